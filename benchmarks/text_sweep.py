"""Does `sweep=text` find a better text model than the defaults? Dev split, per language.

For each AfriSenti language bundled in benchmarks/data/afrisenti (official splits, dev as val):
train `data=text model=text` with the defaults, run `mbegu sweep sweep=text` (N trials, the
same command a user types), retrain the best config it writes (`experiment=best_<study>`), and
score both on the dev split: weighted F1 (the sweep's objective, the project's monitor
val/f1_weighted), and accuracy beside it. Runs in a scratch project: your outputs, sweeps and
MLflow store are left alone.

Usage:
  python benchmarks/text_sweep.py                      # yo ig sw pcm, 12 trials each
  python benchmarks/text_sweep.py --trials 20 --languages yo sw
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
AFRISENTI = REPO / "benchmarks" / "data" / "afrisenti"
LANGUAGES = ("yo", "ig", "sw", "pcm")


def dev_scores(project: Path, overrides: list[str]) -> dict[str, float]:
    """Prepare, train, and score the saved model on the dev (val) split's raw rows."""
    from sklearn.metrics import accuracy_score, f1_score

    from mbegu.config.compose import compose
    from mbegu.data.sources import build_data
    from mbegu.data.stage import prepare
    from mbegu.models.saved import load_model
    from mbegu.project import resolve_paths
    from mbegu.training.train import train

    cfg = compose(overrides, root=project)
    prepare(cfg)
    train(cfg)
    saved = load_model(resolve_paths(cfg, project)["model_dir"])
    data = build_data(cfg, project)
    data.load()
    frame = data.frames["val"]
    truth = saved.encoder.labels(frame, "the dev split")
    predicted = saved.probabilities(frame, "the dev split").argmax(axis=1)
    return {
        "acc": float(accuracy_score(truth, predicted)),
        "f1_weighted": float(f1_score(truth, predicted, average="weighted")),
    }


def language(project: Path, lang: str, trials: int) -> tuple[dict, dict, float]:
    """(defaults' dev scores, best config's dev scores, the sweep's wall seconds)."""
    from mbegu.sweeps.runner import run_sweep

    for split in ("train", "dev", "test"):
        shutil.copy(AFRISENTI / f"{lang}_{split}.tsv", project / "data" / f"{lang}_{split}.tsv")
    data = [
        "data=text",
        "model=text",
        "data.text_column=tweet",
        "data.target=label",
        f"data.train_path=data/{lang}_train.tsv",
        f"data.val_path=data/{lang}_dev.tsv",
        f"data.test_path=data/{lang}_test.tsv",
        f"data.name={lang}",
        "tracking.registered_model_name=null",
    ]
    defaults = dev_scores(project, data)
    started = time.perf_counter()
    summary = run_sweep([*data, "sweep=text", f"sweep.n_trials={trials}"])
    seconds = time.perf_counter() - started
    best = dev_scores(project, [*data, f"experiment={Path(summary['best_config']).stem}"])
    return defaults, best, seconds


def main() -> None:
    from data_quality import scratch_project  # benchmarks/ is on sys.path when run as a script

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="trials per sweep (default 12)")
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES), choices=LANGUAGES)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-sweep-"))
    rows = []
    try:
        project = scratch_project(scratch)
        for lang in args.languages:
            rows.append((lang, *language(project, lang, args.trials)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\ndev split, model=text: defaults vs the best of {args.trials} sweep=text trials")
    head = f"{'data':<8}{'acc':>8}{'best':>8}{'F1w':>8}{'best':>8}{'sweep s':>9}"
    print(f"{head}  best F1w > defaults")
    wins = 0
    for lang, ours, best, seconds in rows:
        better = best["f1_weighted"] > ours["f1_weighted"]  # the figure the sweep maximised
        wins += better
        print(
            f"{lang:<8}{ours['acc']:8.4f}{best['acc']:8.4f}{ours['f1_weighted']:8.4f}"
            f"{best['f1_weighted']:8.4f}{seconds:9.0f}  {'yes' if better else 'no'}"
        )
    target = min(3, len(rows))
    print(f"\ntarget: the best config beats the defaults on at least {target}: {wins} did")
    sys.exit(0 if wins >= target else 1)


if __name__ == "__main__":
    main()
