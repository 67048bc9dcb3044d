"""What mbegu costs over the libraries it uses: per epoch, per process, per sweep, per pipeline.

Runs, alternately and N rounds each, in scratch copies of the project (the user's outputs and
MLflow store are left alone):
  plain    benchmarks/plain_torch.py: same processed data, network, optimizer, epochs, batch
           size, seed and shuffle order; no Lightning, no tracking
  bare_pl  benchmarks/bare_lightning.py: the same in a bare Lightning loop (Lightning's own
           cost, without anything mbegu adds): the reference for the train stage's targets
  floor    benchmarks/floor_lightning.py: that loop plus only what a tracked, resumable epoch
           cannot skip, done by Lightning: the epoch's values through self.log, the best
           checkpoint, early stopping (a lower bound for the epoch)
  library  benchmarks/library_lightning.py: the same bookkeeping the libraries' documented way
  train    `mbegu train --params params.yaml`: the DVC train stage, MLflow tracking included
  bare_gc  bare_pl under the garbage-collector settings the `mbegu` command uses
  sweeps   `mbegu sweep sweep=default` (and the same under Python's default collector
           settings) beside benchmarks/bare_sweep.py's Optuna over a bare Lightning loop, over
           a plain loop, over the libraries' tracked loop, over the bare loop with the fewest
           MLflow writes a tracked trial takes (`floor`), and the lower bound for a tracked,
           resumable study (`tracked`, under mbegu's collector settings); same space, trials,
           epochs, pruner, seed
  pipeline `dvc repro -f` on a clone beside benchmarks/plain_pipeline.py (the same split,
           training and test scoring in one plain script), and DVC running the stages as
           imports of their libraries (under mbegu's collector settings: a lower bound)
Prints medians, the ratios with their targets (met or not), and where the time goes: the
train stage's phases, its imports, and Lightning's profile of one run's hooks.

Usage: python benchmarks/train_overhead.py [--rounds 5] [--sweep-rounds 2] [--pipeline-rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Ratios within one run (this machine is noisy: absolute times are not comparable across runs).
TARGETS = {"epoch": 1.15, "wall_plus_s": 1.5, "sweep": 1.2, "pipeline": 3.0}


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"benchmark: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return wall, out.stdout


def scratch_project(tmp: Path) -> Path:
    root = tmp / "project"
    root.mkdir()
    for name in ("conf", "data"):
        shutil.copytree(REPO / name, root / name)
    for name in ("dvc.yaml", "params.yaml", "data.dvc"):
        shutil.copy(REPO / name, root / name)
    return root


def train_stage(root: Path, env: dict[str, str]) -> dict:
    wall, stdout = run([str(BIN / "mbegu"), "train", "--params", "params.yaml"], root, env)
    line = next(li for li in stdout.splitlines() if li.startswith("mbegu-timings "))
    info = json.loads(line.removeprefix("mbegu-timings "))
    return {
        "wall": wall,
        "epoch": statistics.median(info["epoch_s"][1:]),
        "epochs": len(info["epoch_s"]),
        "acc": info["val/acc"],
        "info": info,
    }


# A reference script run under the garbage-collector settings the `mbegu` command uses
# (mbegu.processes): what the same two lines would save any Lightning script.
WITH_MBEGU_GC = (
    "import runpy, sys; from mbegu.processes import skip_gc_at_exit, tune_gc_for_command; "
    "tune_gc_for_command(); sys.argv = sys.argv[1:]; "
    "sys.path.insert(0, sys.argv[0].rsplit('/', 1)[0]); "
    "runpy.run_path(sys.argv[0], run_name='__main__'); skip_gc_at_exit()"
)


# `mbegu` through main(), under Python's default collector settings (the command is run()).
VIA_MAIN = "import sys; from mbegu.cli.main import main; sys.exit(main())"


def python(gc: bool = False) -> list[str]:
    """The interpreter to run a reference script with: as usual, or under mbegu's GC settings."""
    return [sys.executable, "-c", WITH_MBEGU_GC] if gc else [sys.executable]


def script(name: str, root: Path, env: dict[str, str], epochs: int, gc: bool = False) -> dict:
    script = REPO / "benchmarks" / f"{name}.py"
    wall, stdout = run([*python(gc), str(script), "params.yaml", str(epochs)], root, env)
    info = json.loads(stdout.strip().splitlines()[-1])
    return {
        "wall": wall,
        "epoch": statistics.median(info["epoch_seconds"][1:]),
        "epochs": len(info["epoch_seconds"]),  # early stopping may end it sooner
        "acc": info["val/acc"],
    }


def import_profile(root: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds spent importing each top-level package, from `python -X importtime`."""
    cmd = [sys.executable, "-X", "importtime", "-c", VIA_MAIN, "train", "--params", "params.yaml"]
    out = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=True)
    totals: dict[str, float] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        top_level = name.startswith(" ") and not name.startswith("  ")
        if top_level and cumulative.strip().isdigit():
            package = name.strip().split(".")[0]
            totals[package] = totals.get(package, 0) + int(cumulative) / 1e6
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def hook_profile(root: Path, env: dict[str, str]) -> list[tuple[str, float, int]]:
    """Lightning's SimpleProfiler over one train stage run: (hook, total s, calls), top 8.
    Its report goes to Lightning's logger, which mbegu quiets: let that one child speak."""
    code = (
        "import logging, sys; "
        "logging.getLogger('lightning.pytorch.profilers').setLevel(logging.INFO); "
        "from mbegu.cli.main import main; sys.exit(main(['train', '+trainer.profiler=simple']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    rows = []
    for line in (out.stdout + out.stderr).splitlines():
        cells = [c.strip() for c in line.split("|") if c.strip()]
        if len(cells) == 5 and cells[0] not in ("Action", "Total"):
            try:
                rows.append((cells[0], float(cells[3]), int(cells[2])))
            except ValueError:
                continue
    return sorted(rows, key=lambda r: -r[1])[:8]


def sweeps(root: Path, env: dict[str, str], rounds: int, trials: int, epochs: int) -> dict:
    """Median wall seconds of the same study several ways; mbegu's from its process start,
    also with Python's default garbage collector settings (main(), not the `mbegu` command)."""
    names = ("mbegu", "mbegu_default_gc", "bare_pl", "plain", "library", "floor", "tracked")
    out: dict[str, list[float]] = {k: [] for k in names}
    best: dict[str, float] = {}
    script = str(REPO / "benchmarks" / "bare_sweep.py")
    for n in range(rounds):
        cmd = [
            str(BIN / "mbegu"),
            "sweep",
            "sweep=default",
            f"sweep.n_trials={trials}",
            f"trainer.max_epochs={epochs}",
            f"sweep.study_name=bench-{n}",
        ]
        default_gc = [sys.executable, "-c", VIA_MAIN, *cmd[1:-1], f"sweep.study_name=bench-gc-{n}"]
        pair = [("mbegu", cmd), ("mbegu_default_gc", default_gc)]
        for name, command in pair if n % 2 == 0 else pair[::-1]:  # neither always first
            out[name].append(run(command, root, env)[0])
        kinds = (("lightning", "bare_pl"), ("plain", "plain"), ("library", "library"))
        for kind, name in (*kinds, ("floor", "floor"), ("tracked", "tracked")):
            # The tracked bound under the collector settings mbegu's command uses: a lower
            # bound for what mbegu could reach, not for the libraries as usually run.
            wall, stdout = run(
                [*python(kind == "tracked"), script, kind, "params.yaml", str(trials), str(epochs)],
                root,
                env,
            )
            out[name].append(wall)
            best[name] = json.loads(stdout.strip().splitlines()[-1])["best"]
    return {k: statistics.median(v) for k, v in out.items()} | {"best": best}


# What each stage's work needs imported (the libraries, not mbegu): the pipeline's floor runs
# these in place of the stages, under the same DVC. Tracking into the SQLite store is work
# both tracked stages do, and `import mlflow` leaves out the SQLAlchemy stores that MLflow's
# client imports for it; so is logging the MLflow model (mlflow.pyfunc) that serving needs.
MLFLOW_SQL = "mlflow.store.tracking.sqlalchemy_store"
STAGE_LIBRARIES = {
    "prepare": "pandas, numpy",
    "train": f"torch, lightning.pytorch, mlflow, {MLFLOW_SQL}",
    "evaluate": (
        f"torch, mlflow, {MLFLOW_SQL}, mlflow.store.model_registry.sqlalchemy_store, "
        "mlflow.pyfunc, sklearn.metrics, matplotlib.pyplot"
    ),
}


def floor_dvc_yaml(clone: Path) -> None:
    """dvc.yaml with each stage's command replaced by importing its libraries, outputs kept
    (persist): DVC's own work (hashing, locking, three processes) plus the imports, no work."""
    import yaml

    spec = yaml.safe_load((clone / "dvc.yaml").read_text())
    # Under the collector settings of the `mbegu` command (the same mbegu.processes calls as
    # WITH_MBEGU_GC), which the real stages run with: a lower bound for them.
    gc_tuned = "from mbegu.processes import skip_gc_at_exit, tune_gc_for_command; "
    for name, stage in spec["stages"].items():
        imports = f"tune_gc_for_command(); import {STAGE_LIBRARIES[name]}; skip_gc_at_exit()"
        stage["cmd"] = f'python -c "{gc_tuned}{imports}"'
        for key in ("outs", "metrics"):
            entries = []
            for out in stage.get(key, []):
                path, opts = (out, {}) if isinstance(out, str) else next(iter(out.items()))
                entries.append({path: {**opts, "persist": True}})
            if entries:
                stage[key] = entries
    (clone / "dvc.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def pipeline(tmp: Path, env: dict[str, str], rounds: int) -> dict:
    """`dvc repro -f` on a clone of HEAD (data pulled from the bundled remote) beside the
    plain script, alternately; the first repro (new store) is left out. Then the floor:
    the same `dvc repro -f` with each stage only importing its libraries."""
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = {k: v for k, v in env.items() if k != "MLFLOW_TRACKING_URI"}
    run([str(BIN / "dvc"), "pull", "-q", "data.dvc"], clone, env)
    run([str(BIN / "dvc"), "repro", "-f", "-q"], clone, env)
    dvc, plain, floor, imports, metrics = [], [], [], [], {}
    plain_libraries = "torch, pandas, numpy, yaml, sklearn.metrics"  # plain_pipeline.py's
    for _ in range(rounds):
        dvc.append(run([str(BIN / "dvc"), "repro", "-f", "-q"], clone, env)[0])
        wall, stdout = run(
            [sys.executable, str(REPO / "benchmarks" / "plain_pipeline.py"), "params.yaml"],
            clone,
            env,
        )
        plain.append(wall)
        metrics["plain"] = json.loads(stdout.strip().splitlines()[-1])["test/acc"]
        imports.append(run([sys.executable, "-c", f"import {plain_libraries}"], clone, env)[0])
    metrics["dvc"] = json.loads((clone / "reports" / "metrics.json").read_text())["test"]["acc"]
    floor_dvc_yaml(clone)
    for _ in range(rounds):
        floor.append(run([str(BIN / "dvc"), "repro", "-f", "-q"], clone, env)[0])
    return {
        "dvc": statistics.median(dvc),
        "plain": statistics.median(plain),
        "floor": statistics.median(floor),
        "plain_imports": statistics.median(imports),
        "acc": metrics,
    }


def fixed(measured: dict) -> float:
    """A process's seconds outside its epochs: imports, set-up, tracking, outputs."""
    return measured["wall"] - measured["epochs"] * measured["epoch"]


def show(value: float, unit: str) -> str:
    return f"{value:+.2f}{unit}" if unit == " s" else f"{value:.2f}{unit}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sweep-rounds", type=int, default=2)
    parser.add_argument("--sweep-trials", type=int, default=20)
    parser.add_argument("--sweep-epochs", type=int, default=10)
    parser.add_argument("--pipeline-rounds", type=int, default=2)
    args = parser.parse_args()
    env = {
        **os.environ,
        "MBEGU_TIMINGS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = scratch_project(Path(tmp))
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        subprocess.run(
            [str(BIN / "mbegu"), "prepare", "--params", "params.yaml"],
            cwd=root,
            env=env,
            check=True,
            capture_output=True,
        )
        first = time.perf_counter()
        warm = train_stage(root, env)  # creates the store: a one-off cost, reported apart
        first_wall = time.perf_counter() - first
        results: dict[str, list[dict]] = {
            k: [] for k in ("plain", "bare_pl", "floor", "library", "train", "bare_gc")
        }
        for _ in range(args.rounds):
            results["plain"].append(script("plain_torch", root, env, warm["epochs"]))
            results["bare_pl"].append(script("bare_lightning", root, env, warm["epochs"]))
            results["floor"].append(script("floor_lightning", root, env, warm["epochs"]))
            results["library"].append(script("library_lightning", root, env, warm["epochs"]))
            results["train"].append(train_stage(root, env))
            results["bare_gc"].append(script("bare_lightning", root, env, warm["epochs"], gc=True))
        imports = import_profile(root, env)
        hooks = hook_profile(root, env)
        sweep = sweeps(root, env, args.sweep_rounds, args.sweep_trials, args.sweep_epochs)
        pipe = pipeline(Path(tmp), env, args.pipeline_rounds)

    med = {
        name: {k: statistics.median(r[k] for r in rows) for k in ("wall", "epoch", "acc", "epochs")}
        for name, rows in results.items()
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform(terse=True)}, "
        f"load {os.getloadavg()[0]:.2f} (1 min)"
    )
    print(f"rounds: {args.rounds} each, alternating; epochs per run: {warm['epochs']}\n")
    print(f"{'':14}{'wall s':>10}{'epoch ms':>10}{'val/acc':>10}")
    for name, m in med.items():
        print(f"{name:14}{m['wall']:>10.2f}{m['epoch'] * 1000:>10.1f}{m['acc']:>10.4f}")
    for name in ("bare_pl", "floor", "library", "train", "bare_gc"):
        m = med[name]
        print(
            f"{name + '/plain':14}{m['wall'] / med['plain']['wall']:>9.2f}x"
            f"{m['epoch'] / med['plain']['epoch']:>9.2f}x{m['acc'] - med['plain']['acc']:>+10.4f}"
        )
    train, bare, lib = med["train"], med["bare_pl"], med["library"]
    # Beside each target, the same bookkeeping done the libraries' documented way (the
    # library_lightning.py loop, bare_sweep.py's library kind): a comparison, not a lower
    # bound. The lower bounds: for the epoch, the bare loop with only `self.log` of the epoch's
    # values and the best checkpoint (floor_lightning.py); importing MLflow, which a tracked
    # process cannot skip; for the sweep, the tracked, resumable study (bare_sweep.py tracked);
    # for the pipeline DVC running the stages as imports of their libraries plus the plain
    # script's work without its imports. The last two run under mbegu's collector settings.
    pipe_floor = pipe["floor"] + max(pipe["plain"] - pipe["plain_imports"], 0.0)
    mlflow_import = imports.get("mlflow", 0.0)
    targets = [
        (
            f"train epoch / bare Lightning epoch <= {TARGETS['epoch']}x",
            train["epoch"] / bare["epoch"],
            lib["epoch"] / bare["epoch"],
            train["epoch"] / lib["epoch"],
            TARGETS["epoch"],
            ("x", "x", "x"),
            (
                med["floor"]["epoch"] / bare["epoch"],
                "Lightning logging the epoch's five values and saving its best checkpoint "
                f"alone: {med['floor']['epoch'] / bare['epoch']:.2f}x",
            ),
        ),
        (  # the libraries' way and mbegu against it outside the epochs (counted above)
            f"train process - bare Lightning process <= {TARGETS['wall_plus_s']} s",
            train["wall"] - bare["wall"],
            fixed(lib) - fixed(bare),
            fixed(train) - fixed(lib),
            TARGETS["wall_plus_s"],
            (" s", " s", " s"),
            (mlflow_import, f"importing MLflow alone takes {mlflow_import:.1f} s"),
        ),
        (
            f"mbegu sweep / Optuna + bare Lightning <= {TARGETS['sweep']}x",
            sweep["mbegu"] / sweep["bare_pl"],
            sweep["library"] / sweep["bare_pl"],
            sweep["mbegu"] / sweep["library"],
            TARGETS["sweep"],
            ("x", "x", "x"),
            (
                sweep["tracked"] / sweep["bare_pl"],
                f"a tracked, resumable study's lower bound: "
                f"{sweep['tracked'] / sweep['bare_pl']:.2f}x",
            ),
        ),
        (
            f"dvc repro -f / plain script <= {TARGETS['pipeline']}x",
            pipe["dvc"] / pipe["plain"],
            pipe_floor / pipe["plain"],
            pipe["dvc"] - pipe_floor,
            TARGETS["pipeline"],
            ("x", "x", " s"),
            (
                pipe_floor / pipe["plain"],
                f"DVC, the stages' imports and the work alone: {pipe_floor / pipe['plain']:.2f}x",
            ),
        ),
    ]
    print(
        f"\nsweep, {args.sweep_trials} trials of up to {args.sweep_epochs} epochs "
        f"(median of {args.sweep_rounds}): mbegu sweep {sweep['mbegu']:.1f} s, "
        f"Optuna + bare Lightning {sweep['bare_pl']:.1f} s, Optuna + plain loop "
        f"{sweep['plain']:.1f} s, Optuna + the libraries' tracked loop {sweep['library']:.1f} s, "
        f"Optuna + bare Lightning + the fewest MLflow writes (a lower bound) "
        f"{sweep['floor']:.1f} s, "
        f"the same tracked and resumable (journal storage, the epoch's lower bound, the whole "
        f"config and every epoch's values; a lower bound for what mbegu keeps) "
        f"{sweep['tracked']:.1f} s; mbegu sweep with Python's default GC settings "
        f"{sweep['mbegu_default_gc']:.1f} s"
    )
    print(
        f"pipeline (median of {args.pipeline_rounds}): dvc repro -f {pipe['dvc']:.1f} s "
        f"(test/acc {pipe['acc']['dvc']:.4f}), plain script {pipe['plain']:.1f} s "
        f"(test/acc {pipe['acc']['plain']:.4f}; its imports {pipe['plain_imports']:.1f} s), "
        f"DVC with each stage only importing its libraries {pipe['floor']:.1f} s\n"
    )
    print(
        "targets (ratios within this run), each beside the same bookkeeping done the libraries'"
        " way\n(process: that and mbegu against it outside the epochs; pipeline: DVC running the"
        " stages as\nimports of their libraries, plus the plain script's work, and mbegu over it)"
    )
    print(f"  {'':<62}{'mbegu':>9}{'libraries':>10}{'mbegu vs':>10}")
    for name, value, library, against, target, units, floor in targets:
        if value <= target:
            result = "met"
        elif floor is not None and floor[0] > target:
            result = f"NOT met: {floor[1]}"
        else:
            result = "NOT met"
        shown = zip((value, library, against), units, (9, 10, 10), strict=True)
        cells = "".join(f"{show(v, unit):>{width}}" for v, unit, width in shown)
        print(f"  {name:<62}{cells}  {result}")
    gc_bare = med["bare_gc"]["wall"]
    print(
        f"  (the `mbegu` command tunes CPython's garbage collector, mbegu.processes; the bare "
        f"Lightning script\n   under the same settings: {gc_bare:.2f} s, mbegu's train stage "
        f"{train['wall'] - gc_bare:+.2f} s over it)"
    )
    same = abs(train["acc"] - med["plain"]["acc"]) < 0.01
    same = same and abs(bare["acc"] - med["plain"]["acc"]) < 0.01
    name = "train val/acc = bare Lightning's = plain's (within 0.01)"
    print(f"  {name:<62}{train['acc']:>9.4f}{'':>20}  {verdict(same)}")
    print()

    info = results["train"][len(results["train"]) // 2]["info"]
    print("train stage, where one run's time goes:")
    print(f"  first run, new MLflow store: {first_wall:.2f} s wall")
    for key in ("setup_s", "tracking_setup_s", "fit_s", "outputs_and_close_s"):
        print(f"  {key:<22}{info[key]:>7.2f} s")
    print("  imports (cumulative s, top level):")
    for package, seconds in list(imports.items())[:8]:
        print(f"    {package:<20}{seconds:>7.2f}")
    print("  Lightning's profile of one run (hook, total s, calls):")
    for hook, seconds, calls in hooks:
        hook = hook.split("{")[0] + (".." + hook.rsplit(".", 1)[-1] if "{" in hook else "")
        print(f"    {hook[:60]:<60}{seconds:>8.3f}{calls:>7}")


if __name__ == "__main__":
    main()
