"""Serving without torch: the MLflow model on ONNX Runtime beside the same model on torch.

For a table model (the digits, MLP) and a text model (AfriSenti's Nigerian Pidgin, BagOfNgrams),
each trained for a few epochs by `mbegu train` in a scratch copy of the project (the user's
outputs and store are left alone), and saved as an MLflow model, side by side in one run:
  size     the site-packages folders of the packages a serving process imports (`import torch`
           costs its whole wheel on disk), and of the whole serving install when --serve-python
           names a torch-free one (requirements/serve.txt)
  rss      the serving process's resident memory once the model is loaded
  load     seconds from a fresh interpreter to a loaded model (imports included)
  latency  p50 and p99 of model.predict for a 1-row and a 1,000-row request
Each engine loads in its own fresh process: `mlflow.pyfunc.load_model(path,
model_config={"engine": ...})`, as a server would.

Usage: python benchmarks/serving.py [--serve-python /path/to/serve-venv/bin/python]
         [--epochs 3] [--repeats 300]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PIDGIN = REPO / "benchmarks" / "data" / "afrisenti" / "pcm"
TEXT = [
    "data=text",
    "model=text",
    "data.text_column=tweet",
    "data.target=label",
    "data.train_path=data/pcm_train.tsv",
    "data.val_path=data/pcm_dev.tsv",
    "data.test_path=data/pcm_test.tsv",
]


def child(engine: str, model: Path, rows: Path, repeats: int) -> None:
    """One serving process: load, then time requests; prints one JSON line."""
    started = time.perf_counter()
    import mlflow.pyfunc
    import pandas as pd

    served = mlflow.pyfunc.load_model(str(model), model_config={"engine": engine})
    load = time.perf_counter() - started
    rss = _rss_mib()
    frame = pd.read_csv(rows, sep=None, engine="python")
    frame = frame[served.get_raw_model().features]  # the model's input columns
    big = frame.sample(1000, replace=True, random_state=0)
    result = {"engine": engine, "load_s": load, "rss_mib": rss, "torch": "torch" in sys.modules}
    for name, request, times in (("1", frame.iloc[:1], repeats), ("1000", big, repeats // 10)):
        for _ in range(5):
            served.predict(request)
        took = []
        for _ in range(times):
            tic = time.perf_counter()
            served.predict(request)
            took.append((time.perf_counter() - tic) * 1000)
        took.sort()
        result[f"p50_{name}_ms"] = took[len(took) // 2]
        result[f"p99_{name}_ms"] = took[min(len(took) - 1, int(len(took) * 0.99))]
    result["imported_mib"] = _imported_mib()
    print(json.dumps(result))


def _rss_mib() -> float:
    """Resident memory now (Linux's /proc), else the peak (getrusage)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _imported_mib() -> float:
    """On-disk size of the site-packages folders (or files) the imported modules came from."""
    import site

    roots = [Path(p) for p in site.getsitepackages()]
    tops: set[Path] = set()
    for module in list(sys.modules.values()):
        where = getattr(module, "__file__", None)
        if not where:
            continue
        path = Path(where).resolve()
        for root in roots:
            if root in path.parents:
                tops.add(root / path.relative_to(root).parts[0])
    return sum(_size(p) for p in tops) / 2**20


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def site_mib(python: str) -> float:
    """The whole install of an interpreter: its site-packages, on disk."""
    code = "import site; print(site.getsitepackages()[0])"
    folder = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return _size(Path(folder.stdout.strip())) / 2**20


def train(project: Path, overrides: list[str], env: dict[str, str]) -> Path:
    """`mbegu train` (an ad hoc run): its model folder under checkpoints/RUN_ID/model."""
    before = set(project.glob("checkpoints/*/model"))
    cmd = [str(BIN / "mbegu"), "train", *overrides]
    out = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"benchmark: {' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    (model,) = set(project.glob("checkpoints/*/model")) - before
    return model


def measure(python: str, engine: str, model: Path, rows: Path, repeats: int) -> dict[str, Any]:
    cmd = [python, __file__, "--child", engine, str(model), str(rows), "--repeats", str(repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=_quiet())
    if out.returncode != 0:
        sys.exit(f"benchmark: {engine} child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _quiet() -> dict[str, str]:
    return {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-python", help="a torch-free interpreter (requirements/serve.txt)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=300, help="1-row requests timed")
    parser.add_argument(
        "--child", nargs=3, metavar=("ENGINE", "MODEL", "ROWS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.repeats)
        return

    import logging

    import mlflow.pyfunc

    from mbegu.data.digits import digits_csv

    logging.getLogger("mlflow").setLevel(logging.ERROR)  # save_model's notes on pip and uv

    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-serving-"))
    try:
        project = scratch / "project"
        (project / "data").mkdir(parents=True)
        shutil.copytree(REPO / "conf", project / "conf")
        (project / "data" / "digits.csv").write_text(digits_csv())
        for split in ("train", "dev", "test"):
            shutil.copy(f"{PIDGIN}_{split}.tsv", project / "data" / f"pcm_{split}.tsv")
        env = _quiet() | {
            "MBEGU_ROOT": str(project),
            "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
        }
        epochs = [f"trainer.max_epochs={args.epochs}", "callbacks.early_stopping=null"]
        jobs = {
            "table (digits, MLP)": ([], project / "data" / "digits.csv"),
            "text (pcm tweets, BagOfNgrams)": (TEXT, project / "data" / "pcm_test.tsv"),
        }
        sides = [("torch", sys.executable), ("onnx", sys.executable)]
        if args.serve_python:
            sides.append(("onnx", args.serve_python))
        results: list[tuple[str, dict[str, Any]]] = []
        for name, (overrides, rows) in jobs.items():
            model_dir = train(project, [*overrides, *epochs], env)
            served = scratch / f"served-{len(results)}"
            mlflow.pyfunc.save_model(
                str(served),
                loader_module="mbegu.models.mlflow_model",
                data_path=str(model_dir),
                model_config={"engine": "torch"},
            )
            for engine, python in sides:
                found = measure(python, engine, served, rows, args.repeats)
                found["install"] = "serve venv" if python != sys.executable else "full venv"
                results.append((name, found))
        report(results, args.serve_python)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _cpu() -> str:
    """The CPU's model name (Linux), else what platform knows."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def report(results: list[tuple[str, dict[str, Any]]], serve_python: str | None) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {_cpu()}, {cores} usable cores, Python {platform.python_version()}")
    full = site_mib(sys.executable)
    line = f"install on disk: full venv {full:.0f} MiB"
    if serve_python:
        line += f", serve venv (requirements/serve.txt) {site_mib(serve_python):.0f} MiB"
    print(line)
    head = (
        f"{'model':32} {'engine':6} {'install':10} {'imported MiB':>12} {'RSS MiB':>8} "
        f"{'load s':>7} {'1 row p50/p99 ms':>17} {'1000 rows p50/p99 ms':>21}  torch"
    )
    print(head)
    for name, r in results:
        one = f"{r['p50_1_ms']:.2f}/{r['p99_1_ms']:.2f}"
        many = f"{r['p50_1000_ms']:.1f}/{r['p99_1000_ms']:.1f}"
        print(
            f"{name:32} {r['engine']:6} {r['install']:10} {r['imported_mib']:12.0f} "
            f"{r['rss_mib']:8.0f} {r['load_s']:7.2f} {one:>17} {many:>21}  "
            f"{'yes' if r['torch'] else 'no'}"
        )


if __name__ == "__main__":
    main()
