"""How much the train stage costs over the same work in plain PyTorch.

Runs, alternately and N rounds each, in a scratch copy of the project (the user's outputs and
MLflow store are left alone):
  plain  benchmarks/plain_torch.py: same processed data, network, optimizer, epochs, batch
         size, seed and shuffle order; no Lightning, no tracking
  bare_pl  benchmarks/bare_lightning.py: the same in a bare Lightning loop (a reference:
         Lightning's own cost, without anything mbegu adds)
  train  `mbegu train --params params.yaml`: the DVC train stage, MLflow tracking included
Prints median process wall time, median per-epoch time and final val/acc of each, their
ratios, and where the train stage's startup goes (imports, tracking setup).

Usage: python benchmarks/train_overhead.py [--rounds 5]
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
TARGETS = {"epoch": 1.3, "wall": 2.0}


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


def script(name: str, root: Path, env: dict[str, str], epochs: int) -> dict:
    script = REPO / "benchmarks" / f"{name}.py"
    wall, stdout = run([sys.executable, str(script), "params.yaml", str(epochs)], root, env)
    info = json.loads(stdout.strip().splitlines()[-1])
    return {
        "wall": wall,
        "epoch": statistics.median(info["epoch_seconds"][1:]),
        "epochs": epochs,
        "acc": info["val/acc"],
    }


def import_profile(root: Path, env: dict[str, str]) -> dict[str, float]:
    """Seconds spent importing each top-level package, from `python -X importtime`."""
    code = "from mbegu.cli.main import main; raise SystemExit(main())"
    cmd = [sys.executable, "-X", "importtime", "-c", code, "train", "--params", "params.yaml"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = {
        **os.environ,
        "MBEGU_TIMINGS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PYTHONUNBUFFERED": "1",
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
        results: dict[str, list[dict]] = {"plain": [], "bare_pl": [], "train": []}
        for _ in range(args.rounds):
            results["plain"].append(script("plain_torch", root, env, warm["epochs"]))
            results["bare_pl"].append(script("bare_lightning", root, env, warm["epochs"]))
            results["train"].append(train_stage(root, env))
        imports = import_profile(root, env)

    med = {
        name: {k: statistics.median(r[k] for r in rows) for k in ("wall", "epoch", "acc")}
        for name, rows in results.items()
    }
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform(terse=True)}"
    )
    print(f"rounds: {args.rounds} each, alternating; epochs per run: {warm['epochs']}\n")
    print(f"{'':14}{'wall s':>10}{'epoch ms':>10}{'val/acc':>10}")
    for name, m in med.items():
        print(f"{name:14}{m['wall']:>10.2f}{m['epoch'] * 1000:>10.1f}{m['acc']:>10.4f}")
    for name in ("bare_pl", "train"):
        m = med[name]
        print(
            f"{name + '/plain':14}{m['wall'] / med['plain']['wall']:>9.2f}x"
            f"{m['epoch'] / med['plain']['epoch']:>9.2f}x{m['acc'] - med['plain']['acc']:>+10.4f}"
        )
    ratio_epoch = med["train"]["epoch"] / med["plain"]["epoch"]
    ratio_wall = med["train"]["wall"] / med["plain"]["wall"]
    same_acc = abs(med["train"]["acc"] - med["plain"]["acc"]) < 0.01
    verdicts = {
        f"epoch <= {TARGETS['epoch']}x": ratio_epoch <= TARGETS["epoch"],
        f"wall <= {TARGETS['wall']}x": ratio_wall <= TARGETS["wall"],
        "same val/acc (within 0.01)": same_acc,
    }
    print("targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in verdicts.items()))
    print()

    info = results["train"][len(results["train"]) // 2]["info"]
    print("train stage startup (one run):")
    print(f"  first run, new MLflow store: {first_wall:.2f} s wall")
    for key in ("setup_s", "tracking_setup_s", "fit_s", "outputs_and_close_s"):
        print(f"  {key:<22}{info[key]:>7.2f} s")
    print("  imports (cumulative s, top level):")
    for package, seconds in list(imports.items())[:8]:
        print(f"    {package:<20}{seconds:>7.2f}")


if __name__ == "__main__":
    main()
