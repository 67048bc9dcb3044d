"""Quality on your kind of data: mbegu beside scikit-learn's logistic regression, same split.

Text: `data=text` with `model=text` and `model=linear` against TF-IDF word 1-2-grams and
character 2-5-grams, each + LogisticRegression (weighted F1 on test; benchmarks/baselines.py).
By default the four AfriSenti languages bundled in benchmarks/data/afrisenti (official train /
dev / test splits, dev as val) and scikit-learn's breast cancer and wine tables (`data=table`
+ `model=mlp`). Every run uses the defaults in conf/: no per-data-set tuning. Runs in a scratch
project: your outputs and MLflow store are left alone.

Usage:
  python benchmarks/data_quality.py                        # AfriSenti yo ig sw pcm + 2 tables
  python benchmarks/data_quality.py --splits DIR/ha        # DIR/ha_{train,dev,test}.tsv
  python benchmarks/data_quality.py --text FILE.tsv --text-column tweet --target label
  python benchmarks/data_quality.py --table FILE.csv --target answer
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
sys.path.insert(0, str(REPO / "benchmarks"))
AFRISENTI = REPO / "benchmarks" / "data" / "afrisenti"
LANGUAGES = ("yo", "ig", "sw", "pcm")
TEXT_MODELS = ("text", "linear")
NAMED = ["data.name=bench"]  # one MLflow experiment in the scratch store
TABLE_TOLERANCE = 0.01  # tables: mbegu within this of logistic regression, or better


def bundled_tables(folder: Path) -> dict[str, Path]:
    from sklearn.datasets import load_breast_cancer, load_wine

    out = {}
    for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
        frame = loader(as_frame=True).frame
        frame["target"] = frame["target"].map(dict(enumerate(loader().target_names)))
        out[name] = folder / f"{name}.csv"
        frame.to_csv(out[name], index=False)
    return out


def scratch_project(scratch: Path) -> Path:
    """conf/ and dvc.yaml in `scratch`/project, made the current project with its own store."""
    project = scratch / "project"
    (project / "data").mkdir(parents=True)
    shutil.copytree(REPO / "conf", project / "conf")
    shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
    os.chdir(project)
    os.environ["MBEGU_ROOT"] = str(project)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
    return project


def run_mbegu(project: Path, overrides: list[str]) -> dict:
    from mbegu.config.compose import compose
    from mbegu.data.stage import prepare
    from mbegu.evaluation.evaluate import evaluate
    from mbegu.training.train import train

    cfg = compose([*overrides, "tracking.registered_model_name=null"], root=project)
    prepare(cfg)
    train(cfg)
    return evaluate(cfg)["test"]


def text_jobs(args: argparse.Namespace, data: Path) -> dict[str, list[str]]:
    """{name: overrides} for each text data set: given splits, or one file mbegu splits."""
    column = args.text_column or ("text" if args.text else "tweet")
    text = ["data=text", f"data.text_column={column}", f"data.target={args.target or 'label'}"]
    if args.text:
        shutil.copy(args.text, data / args.text.name)
        return {args.text.name: [*text, f"data.path=data/{args.text.name}"]}
    prefixes = args.splits or ([] if args.table else [AFRISENTI / lang for lang in LANGUAGES])
    jobs = {}
    for prefix in prefixes:
        name = prefix.name
        for split in ("train", "dev", "test"):
            shutil.copy(prefix.parent / f"{name}_{split}.tsv", data / f"{name}_{split}.tsv")
        jobs[name] = [
            *text,
            f"data.train_path=data/{name}_train.tsv",
            f"data.val_path=data/{name}_dev.tsv",
            f"data.test_path=data/{name}_test.tsv",
        ]
    return jobs


def table_jobs(args: argparse.Namespace, data: Path) -> dict[str, list[str]]:
    if args.text or args.splits:
        return {}
    tables = (
        {args.table.name: shutil.copy(args.table, data / args.table.name)}
        if args.table
        else bundled_tables(data)
    )
    target = (args.target or "target") if args.table else "target"
    return {
        name: ["data=table", f"data.path=data/{Path(path).name}", f"data.target={target}"]
        for name, path in tables.items()
    }


def report(text_rows: list[tuple], table_rows: list[tuple], seconds: float) -> bool:
    """Print both tables; True when every target is met."""
    ok = True
    if text_rows:
        print("\ntext: weighted F1 on test; target: model=text at or above the best baseline")
        head = f"{'data':<16}{'text':>8}{'linear':>8}{'tfidf_word':>12}{'tfidf_char':>12}"
        print(f"{head}  target")
        for name, ours, theirs in text_rows:
            best = max(theirs.values())
            met = ours["text"] >= best
            ok &= met
            print(
                f"{name:<16}{ours['text']:8.4f}{ours['linear']:8.4f}"
                f"{theirs['tfidf_word']:12.4f}{theirs['tfidf_char']:12.4f}  "
                f"{'met' if met else 'NOT met'} (best baseline {best:.4f})"
            )
    if table_rows:
        print(f"\ntables: accuracy on test; target: model=mlp >= logreg - {TABLE_TOLERANCE}")
        print(f"{'data':<16}{'mbegu':>8}{'logreg':>8}  target")
        for name, ours, theirs in table_rows:
            met = ours >= theirs - TABLE_TOLERANCE
            ok &= met
            print(f"{name:<16}{ours:8.4f}{theirs:8.4f}  {'met' if met else 'NOT met'}")
    print(f"\n{seconds:.0f} s in all")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="a CSV/TSV/Parquet table (default: bundled)")
    parser.add_argument("--text", type=Path, help="a CSV/TSV file of texts and labels")
    parser.add_argument(
        "--splits",
        type=Path,
        action="append",
        help="PREFIX of PREFIX_train.tsv, PREFIX_dev.tsv, PREFIX_test.tsv (repeatable)",
    )
    parser.add_argument("--text-column", help="default: tweet (--splits), text (--text)")
    parser.add_argument("--target", help="the label column; default: label (text), target")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for mbegu")
    args = parser.parse_args()
    # The run moves into a scratch project: read the user's paths from here first.
    args.splits = [p.absolute() for p in args.splits or []]
    args.text, args.table = (p.absolute() if p else None for p in (args.text, args.table))
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    from baselines import table_baseline, text_baselines

    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-data-"))
    text_rows, table_rows = [], []
    try:
        project = scratch_project(scratch)
        for name, overrides in text_jobs(args, project / "data").items():
            ours = {
                model: run_mbegu(project, [*overrides, f"model={model}", *NAMED, *args.overrides])
                for model in TEXT_MODELS
            }
            theirs = {k: v["f1_weighted"] for k, v in text_baselines(project).items()}
            text_rows.append((name, {k: v["f1_weighted"] for k, v in ours.items()}, theirs))
        for name, overrides in table_jobs(args, project / "data").items():
            ours_table = run_mbegu(project, [*overrides, *NAMED, *args.overrides])
            table_rows.append((name, ours_table["acc"], table_baseline(project)["logreg"]["acc"]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(0 if report(text_rows, table_rows, time.perf_counter() - started) else 1)


if __name__ == "__main__":
    main()
