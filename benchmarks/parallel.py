"""Parallel that pays: mbegu beside itself on one machine, figures side by side in one run.

Each in a scratch copy of the project (the user's outputs and store are left alone):
  trains    one `mbegu train` alone, then two started together: the wall of the slower of the
            pair against the one alone (target: at most 2.2x)
  sweep     `mbegu sweep` with sweep.workers=N (N = usable cores) against workers=1: trials per
            second, on the CNN (20 trials of 10 epochs; target: at least 0.8 x N times one
            worker's) and on the tiny MLP (8 trials of 6 epochs; target: at most 10% slower)
  startup   what one extra worker costs before its first trial: a spawned `mbegu` worker's
            imports, against a worker forked after the coordinator's imports
  queue     `dvc exp run --run-all -j 2` on a queue of two experiments, against `-j 1`
            (target: at most 1.2x)
Rounds alternate the two sides of each comparison, so that neither always runs first.

Usage: python benchmarks/parallel.py [--rounds 2] [--skip-queue]
"""

from __future__ import annotations

import argparse
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
TARGETS = {"trains": 2.2, "sweep_cnn": 0.8, "sweep_tiny": 1.10, "queue": 1.2}
TINY = ["trainer.max_epochs=10", "callbacks.early_stopping=null"]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # mbegu's own budget
    env |= {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }
    return env


def _check(code: int, cmd: list[str], stderr: bytes | str = b"") -> None:
    if code != 0:
        tail = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        sys.exit(f"benchmark: {' '.join(cmd)} failed (exit {code}):\n{tail[-2000:]}")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    _check(out.returncode, cmd, out.stderr)
    return time.perf_counter() - started


def together(cmds: list[list[str]], cwd: Path, env: dict[str, str]) -> list[float]:
    """Start every command at once; each one's wall seconds."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(c, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in cmds
    ]
    walls = []
    for proc, cmd in zip(procs, cmds, strict=True):
        _, err = proc.communicate()
        walls.append(time.perf_counter() - started)
        _check(proc.returncode, cmd, err)
    return walls


def scratch(tmp: Path, name: str) -> Path:
    root = tmp / name
    root.mkdir()
    for folder in ("conf", "data"):
        shutil.copytree(REPO / folder, root / folder)
    for file in ("dvc.yaml", "params.yaml", "data.dvc"):
        shutil.copy(REPO / file, root / file)
    subprocess.run(
        [str(BIN / "mbegu"), "prepare", "--params", "params.yaml"],
        cwd=root,
        env=_env(root),
        check=True,
        capture_output=True,
    )
    return root


def trains(tmp: Path, rounds: int) -> dict[str, float]:
    root = scratch(tmp, "trains")
    env, cmd = _env(root), [str(BIN / "mbegu"), "train", *TINY]
    timed(cmd, root, env)  # creates the store: a one-off cost
    alone, pair = [], []
    for n in range(rounds):
        for side in ("alone", "pair") if n % 2 == 0 else ("pair", "alone"):
            if side == "alone":
                alone.append(timed(cmd, root, env))
            else:
                pair.append(max(together([cmd, cmd], root, env)))
    return {"alone": statistics.median(alone), "pair": statistics.median(pair)}


def sweep(tmp: Path, rounds: int, workers: int, extra: list[str], label: str) -> dict[str, float]:
    """Trials per second of one worker and of `workers` workers on the same study settings."""
    root = scratch(tmp, f"sweep-{label}")
    env = _env(root)
    trials = int(next(a for a in extra if a.startswith("sweep.n_trials=")).split("=")[1])
    rates: dict[int, list[float]] = {1: [], workers: []}
    for n in range(rounds):
        order = (1, workers) if n % 2 == 0 else (workers, 1)
        for count in order:
            cmd = [
                str(BIN / "mbegu"),
                "sweep",
                "sweep=default",
                *extra,
                f"sweep.workers={count}",
                f"sweep.study_name={label}-{count}-{n}",
            ]
            rates[count].append(trials / timed(cmd, root, env))
    return {"one": statistics.median(rates[1]), "many": statistics.median(rates[workers])}


IMPORTS = "from mbegu.sweeps.workers import import_trial_modules; import_trial_modules()"
FORK = f"""
import os, time
{IMPORTS.replace("; ", chr(10))}
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(time.perf_counter() - started)
"""


def startup(tmp: Path) -> dict[str, float]:
    """Seconds until an extra worker could run its first trial: a fresh interpreter importing
    what a trial needs (spawned), against forking a process that has them already."""
    env = _env(tmp)
    spawn = statistics.median(timed([sys.executable, "-c", IMPORTS], tmp, env) for _ in range(3))
    out = subprocess.run(
        [sys.executable, "-c", FORK], cwd=tmp, env=env, capture_output=True, text=True, check=True
    )
    return {"spawn": spawn, "fork": float(out.stdout.strip().splitlines()[-1])}


def queue(tmp: Path) -> dict[str, float]:
    """`dvc exp run --run-all` over the same two queued experiments with -j 1 and -j 2."""
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    env = _env(clone)
    subprocess.run([str(BIN / "dvc"), "pull", "-q", "data.dvc"], cwd=clone, env=env, check=True)
    subprocess.run(
        [str(BIN / "dvc"), "repro", "-q"], cwd=clone, env=env, check=True, capture_output=True
    )
    walls = {}
    for jobs in (1, 2):
        for lr in (f"0.002{jobs}", f"0.003{jobs}"):  # new params: DVC's run cache cannot skip
            subprocess.run(
                [str(BIN / "dvc"), "exp", "run", "--queue", "-S", f"model.optimizer.lr={lr}"],
                cwd=clone,
                env=env,
                check=True,
                capture_output=True,
            )
        cmd = [str(BIN / "dvc"), "exp", "run", "--run-all", "-j", str(jobs)]
        walls[jobs] = timed(cmd, clone, env)
        subprocess.run(
            [str(BIN / "dvc"), "exp", "remove", "--all-commits", "-q"],
            cwd=clone,
            env=env,
            check=False,
        )
        subprocess.run(
            [str(BIN / "dvc"), "queue", "remove", "--all"],
            cwd=clone,
            env=env,
            check=False,
            capture_output=True,
        )
    return {"one": walls[1], "two": walls[2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-queue", action="store_true", help="leave out dvc exp run")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from mbegu.threads import usable_cores

    cores = usable_cores()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        pair = trains(tmp, args.rounds)
        cnn = sweep(
            tmp,
            args.rounds,
            cores,
            ["model=cnn", "sweep.n_trials=20", "trainer.max_epochs=10"],
            "cnn",
        )
        tiny = sweep(
            tmp,
            args.rounds,
            cores,
            ["sweep.n_trials=8", "trainer.max_epochs=6", "callbacks.early_stopping=null"],
            "tiny",
        )
        start = startup(tmp)
        jobs = None if args.skip_queue else queue(tmp)

    print(
        f"machine: {platform.machine()}, {cores} usable cores, Python "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.2f} (1 min); "
        f"rounds: {args.rounds}, alternating\n"
    )
    gain, want = cnn["many"] / cnn["one"], TARGETS["sweep_cnn"] * cores
    rows = [
        (
            "two trains at once",
            f"{pair['alone']:.2f} s alone",
            f"{pair['pair']:.2f} s each",
            pair["pair"] / pair["alone"],
            "<=",
            TARGETS["trains"],
        ),
        (
            f"CNN sweep, {cores} workers vs 1",
            f"{cnn['one']:.3f} trials/s",
            f"{cnn['many']:.3f} trials/s",
            gain,
            ">=",
            want,
        ),
        (
            f"tiny sweep, {cores} workers vs 1",
            f"{tiny['one']:.3f} trials/s",
            f"{tiny['many']:.3f} trials/s",
            tiny["one"] / tiny["many"],
            "<=",
            TARGETS["sweep_tiny"],
        ),
    ]
    if jobs is not None:
        rows.append(
            (
                "dvc exp run --run-all, 2 queued",
                f"{jobs['one']:.2f} s -j 1",
                f"{jobs['two']:.2f} s -j 2",
                jobs["two"] / jobs["one"],
                "<=",
                TARGETS["queue"],
            )
        )
    print(f"{'':34}{'one':>18}{'parallel':>18}{'ratio':>8}  target")
    for name, one, many, ratio, sense, target in rows:
        met = ratio <= target if sense == "<=" else ratio >= target
        verdict = "met" if met else "NOT met"
        print(f"{name:34}{one:>18}{many:>18}{ratio:>7.2f}x  {sense} {target:.2f}x: {verdict}")
    print(
        f"{'worker start-up':34}{start['spawn']:>16.2f} s{start['fork']:>16.3f} s  "
        "(spawned, forked)"
    )


if __name__ == "__main__":
    main()
