"""A million rows on a laptop: `dvc repro` beside a plain pandas + PyTorch script, same work.

Generates a survey-like table (seeded, nothing downloaded): an id, 16 numeric columns with
decimals, 2 categorical columns and a yes/no target. Then, each side in a fresh process:

- plain: pandas (pyarrow engine) reads the CSV; the same stratified split; numeric columns
  standardised and categories one-hot encoded with train statistics; mbegu's default MLP for
  2 epochs (batch 256, Adam); test accuracy.
- mbegu: `dvc repro` (prepare, train, evaluate) in a scratch project with `data=table`, the
  same split, network, epochs and batch, and evaluate.baselines off (the plain side fits none).

Prints wall time, peak RSS (the largest process of each side) and the processed outputs' size
on disk beside the targets: time at most 1.5x, memory at most 1.3x the plain script's, outputs
at most 0.5x the input CSV. Then `dvc repro` alone on 10,000,000 rows (a 1.4 GB CSV), its time
and its peak RSS against 8 GB.

Usage:
  python benchmarks/scale.py                 # 1,000,000 rows, then 10,000,000
  python benchmarks/scale.py --rows 100000 --big 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGETS = {"time": 1.5, "rss": 1.3, "disk": 0.5}
BIG_RSS_MIB = 8 * 1000**3 / 2**20  # 10M rows: the whole pipeline within 8 GB
NUMERIC, SEED = 16, 42
EXPERIMENT = """# @package _global_
defaults:
  - override /data: table
data:
  path: ${paths.data_dir}/scale.csv
  target: y
  drop: [id]
  batch_size: 256
trainer:
  max_epochs: 2
evaluate:
  baselines: []
tracking:
  registered_model_name: null
"""


def generate(path: Path, rows: int) -> None:
    """The table, written in blocks of 100,000 rows so that 10M rows fit in memory too."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    weights = rng.normal(size=NUMERIC)
    regions = np.array(["Kano", "Lagos", "Nairobi", "Mombasa", "Accra", "Kumasi", "Dakar"])
    kinds = np.array(["rural", "urban", "peri-urban"])
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            x = rng.normal(size=(n, NUMERIC)).round(4)
            region, kind = rng.integers(0, len(regions), n), rng.integers(0, len(kinds), n)
            score = x @ weights / 4 + (region % 3 - 1) * 0.5 + rng.normal(size=n)
            block = pd.DataFrame(x, columns=[f"x{j}" for j in range(NUMERIC)])
            block.insert(0, "id", np.arange(start, start + n))
            block["region"], block["kind"] = regions[region], kinds[kind]
            block["y"] = np.where(score > 0, "yes", "no")
            block.to_csv(out, index=False, header=start == 0)


def plain(csv: Path, loop: str = "plain") -> None:
    """The plain side, run in its own process by `--plain CSV`: prints its test accuracy.

    `loop`: "plain", a hand-written PyTorch loop; or "lightning", the same batches, network
    and optimizer through a bare Lightning Trainer (no logger, checkpoint, bar or callbacks):
    the least Lightning's loop costs, the floor of any Lightning-based train stage. Also prints
    its import and fit seconds.
    """
    started = time.perf_counter()
    import numpy as np
    import pandas as pd
    import torch
    from torch import nn

    from mbegu.data.split import stratified_split

    imports_s = time.perf_counter() - started
    torch.manual_seed(SEED)
    frame = pd.read_csv(csv, engine="pyarrow")
    classes, y = np.unique(frame["y"].to_numpy(), return_inverse=True)
    parts = stratified_split(y, 0.15, 0.15, SEED)
    numeric = [f"x{j}" for j in range(NUMERIC)]
    x_num = frame[numeric].to_numpy(np.float32)
    train = parts["train"]
    mean, std = x_num[train].mean(0), x_num[train].std(0)
    blocks = [(x_num - mean) / np.where(std == 0, 1, std)]
    for column in ("region", "kind"):
        seen = np.unique(frame[column].to_numpy()[train])
        blocks.append((frame[column].to_numpy()[:, None] == seen[None, :]).astype(np.float32))
    x = torch.from_numpy(np.hstack(blocks).astype(np.float32))
    target = torch.from_numpy(y.astype(np.int64))
    net = nn.Sequential(
        nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Dropout(0.1),
        nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, len(classes)),
    )  # fmt: skip
    rows = torch.from_numpy(train)
    fit_started = time.perf_counter()
    if loop == "lightning":
        lightning_fit(net, x[rows], target[rows])
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=0.001)
        for _ in range(2):
            net.train()
            for batch in rows[torch.randperm(len(rows))].split(256):
                optimizer.zero_grad()
                nn.functional.cross_entropy(net(x[batch]), target[batch]).backward()
                optimizer.step()
    fit_s = time.perf_counter() - fit_started
    net.eval()
    with torch.no_grad():
        test = torch.from_numpy(parts["test"])
        acc = (net(x[test]).argmax(1) == target[test]).float().mean().item()
    print(json.dumps({"test_acc": acc, "imports_s": imports_s, "fit_s": fit_s}))


def lightning_fit(net: Any, x: Any, y: Any) -> None:
    """Two epochs of `net` on (x, y) by a bare Lightning Trainer, whole batches by one index."""
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler

    class Rows(torch.utils.data.Dataset):  # a batch of rows by one index op, as plain's
        def __len__(self) -> int:
            return len(y)

        def __getitem__(self, index: Any) -> Any:
            return x[index], y[index]

    class Bare(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return torch.nn.functional.cross_entropy(self.net(batch[0]), batch[1])

        def configure_optimizers(self) -> Any:
            return torch.optim.Adam(self.parameters(), lr=0.001)

    batches = BatchSampler(RandomSampler(range(len(y))), 256, drop_last=False)
    loader = DataLoader(Rows(), sampler=batches, batch_size=None)
    pl.Trainer(
        max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    ).fit(Bare(), loader)  # fmt: skip


# Each stage of the pipeline importing only the libraries it cannot run without: the floor of
# three processes under DVC, whatever they then do.
IMPORTS_ONLY = """stages:
  prepare:
    cmd: python -c "import pandas, pyarrow"
  train:
    cmd: python -c "import torch, lightning.pytorch, mlflow"
  evaluate:
    cmd: python -c "import torch, mlflow"
"""


def imports_pipeline(scratch: Path) -> float:
    """Wall seconds of `dvc repro` over IMPORTS_ONLY, in a project of its own."""
    project = scratch / "imports-only"
    project.mkdir()
    (project / "dvc.yaml").write_text(IMPORTS_ONLY)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=project, check=True)
    return measured([str(BIN / "dvc"), "repro", "-q"], project)[0]


def measured(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB of its largest process, stdout) of a fresh process tree.

    Run through a small parent of its own, whose RUSAGE_CHILDREN then covers only this command.
    """
    probe = (
        "import json, resource, subprocess, sys, time; t = time.perf_counter(); "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "w = time.perf_counter() - t; "
        "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024; "
        "print(json.dumps({'rc': p.returncode, 'wall': w, 'rss': r, 'out': p.stdout, "
        "'err': p.stderr[-3000:]}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *command], cwd=cwd, capture_output=True, text=True
    )
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result['err']}")
    return result["wall"], result["rss"], result["out"]


def folder_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def mbegu_project(
    scratch: Path, csv: Path, experiment: str = EXPERIMENT, name: str = "scale"
) -> Path:
    """A scratch DVC project: conf/ with the experiment `name` selected, the data, params.yaml.

    The CSV is linked in as data/<its name>, which the experiment's data.path names.
    """
    project = scratch / "project"
    (project / "data").mkdir(parents=True)
    shutil.copytree(REPO / "conf", project / "conf")
    shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
    # dvc.yaml's code deps: the sources the installed mbegu runs.
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "conf" / "experiment" / f"{name}.yaml").write_text(experiment)
    root = project / "conf" / "config.yaml"
    root.write_text(root.read_text().replace("  - experiment: null", f"  - experiment: {name}"))
    os.link(csv, project / "data" / csv.name)  # the same bytes, no second copy
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=project, check=True)
    subprocess.run([str(BIN / "mbegu"), "params"], cwd=project, check=True, capture_output=True)
    return project


def pipeline_alone(rows: int) -> tuple[float, float, float]:
    """(wall s, peak RSS MiB, input MiB) of `dvc repro` alone on `rows` generated rows."""
    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-scale-big-"))
    try:
        csv = scratch / "scale.csv"
        generate(csv, rows)
        project = mbegu_project(scratch, csv)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
        wall, rss, _ = measured([str(BIN / "dvc"), "repro", "-q"], project)
        return wall, rss, csv.stat().st_size / 2**20
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--big",
        type=int,
        default=10_000_000,
        help="then the pipeline alone on this many rows against 8 GB of peak RSS (0: skip)",
    )
    parser.add_argument("--plain", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="plain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain(args.plain, args.loop)
        return
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # dvc.yaml's `mbegu ...`
    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-scale-"))
    try:
        csv = scratch / "scale.csv"
        started = time.perf_counter()
        generate(csv, args.rows)
        input_mib = csv.stat().st_size / 2**20
        print(
            f"{args.rows:,} rows: {input_mib:.0f} MiB CSV in {time.perf_counter() - started:.0f} s"
        )
        plain_s, plain_rss, out = measured([sys.executable, __file__, "--plain", str(csv)], scratch)
        said = json.loads(out.strip().splitlines()[-1])
        plain_acc = said["test_acc"]
        bare = [sys.executable, __file__, "--plain", str(csv), "--loop", "lightning"]
        lightning_fit_s = json.loads(measured(bare, scratch)[2].strip().splitlines()[-1])["fit_s"]
        imports_s = imports_pipeline(scratch)
        # The least any DVC pipeline of three Lightning-trained stages can take for this work.
        floor_s = plain_s - said["imports_s"] + imports_s + lightning_fit_s - said["fit_s"]
        project = mbegu_project(scratch, csv)
        env_uri = f"sqlite:///{scratch / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = env_uri
        ours_s, ours_rss, _ = measured([str(BIN / "dvc"), "repro", "-q"], project)
        metrics = json.loads((project / "reports" / "metrics.json").read_text())
        ours_acc = metrics["test"]["acc"]
        disk = folder_mib(project / "artifacts" / "processed")
        cache = folder_mib(project / ".dvc" / "cache")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{'':<26}{'plain':>10}{'mbegu':>10}{'ratio':>8}  target")
    rows = [
        ("wall s", plain_s, ours_s, ours_s / plain_s, "time"),
        ("peak RSS MiB", plain_rss, ours_rss, ours_rss / plain_rss, "rss"),
    ]
    ok = True
    for name, a, b, ratio, key in rows:
        met = ratio <= TARGETS[key]
        floor_over = key == "time" and floor_s / plain_s > TARGETS[key]
        ok &= met or floor_over
        verdict = "met" if met else "NOT met"
        if not met and floor_over:
            verdict += f": the libraries' floor is {floor_s / plain_s:.2f}"
        print(f"{name:<26}{a:10.1f}{b:10.1f}{ratio:8.2f}  <= {TARGETS[key]} {verdict}")
    share = disk / input_mib
    ok &= share <= TARGETS["disk"]
    print(
        f"{'processed MiB / input':<26}{input_mib:10.1f}{disk:10.1f}{share:8.2f}  <= "
        f"{TARGETS['disk']} {'met' if share <= TARGETS['disk'] else 'NOT met'}"
    )
    if args.rows >= 10_000_000:
        met = ours_rss <= BIG_RSS_MIB
        ok &= met
        verdict = "met" if met else "NOT met"
        print(f"{'peak RSS MiB, 10M rows':<26}{'':>10}{ours_rss:10.1f}{'':>8}  <= 8 GB {verdict}")
    if args.big and args.big > args.rows:
        big_s, big_rss, big_mib = pipeline_alone(args.big)
        met = big_rss <= BIG_RSS_MIB
        ok &= met
        print(
            f"{f'{args.big:,} rows, MiB':<26}{'':>10}{big_rss:10.1f}{'':>8}  <= 8 GB "
            f"{'met' if met else 'NOT met'} (dvc repro {big_s:.1f} s, a {big_mib:.0f} MiB CSV)"
        )
    print(f"{'DVC cache MiB':<26}{'':>10}{cache:10.1f}")
    print(f"{'test accuracy':<26}{plain_acc:10.4f}{ours_acc:10.4f}")
    print(f"(peak RSS: the largest process of each side; {resource.getpagesize()} B pages)")
    print(
        f"\nthe libraries' floor for the time: {floor_s:.1f} s = plain {plain_s:.1f} s - its "
        f"imports {said['imports_s']:.1f} s + three stages importing their libraries under DVC "
        f"{imports_s:.1f} s + a bare Lightning Trainer's epochs {lightning_fit_s:.1f} s - the "
        f"plain loop's {said['fit_s']:.1f} s; mbegu {ours_s / floor_s:.2f}x the floor"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
