"""Quality on your kind of data: mbegu beside scikit-learn's logistic regression, same split.

Tables: mbegu's `data=table` + `model=mlp` against LogisticRegression on standardised numeric
and one-hot categorical columns. Text: `data=text` + `model=text` against LogisticRegression on
TF-IDF of word 1-2-grams. Both read the split mbegu's `prepare` wrote (train to fit, test to
score; mbegu also uses val for early stopping). Runs in a scratch project: your outputs and
MLflow store are left alone.

Usage:
  python benchmarks/data_quality.py                      # scikit-learn's breast cancer and wine
  python benchmarks/data_quality.py --text FILE.tsv --text-column tweet --target label
  python benchmarks/data_quality.py --table FILE.csv --target answer
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 0.01  # mbegu within this of the baseline, or better


def bundled_tables(folder: Path) -> dict[str, Path]:
    from sklearn.datasets import load_breast_cancer, load_wine

    out = {}
    for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
        frame = loader(as_frame=True).frame
        frame["target"] = frame["target"].map(dict(enumerate(loader().target_names)))
        out[name] = folder / f"{name}.csv"
        frame.to_csv(out[name], index=False)
    return out


def run_mbegu(project: Path, overrides: list[str]) -> dict:
    from mbegu.config.compose import compose
    from mbegu.data.stage import prepare
    from mbegu.evaluation.evaluate import evaluate
    from mbegu.training.train import train

    cfg = compose([*overrides, "tracking.registered_model_name=null"], root=project)
    prepare(cfg)
    train(cfg)
    return evaluate(cfg)["test"]


def baseline(project: Path, text_column: str | None) -> dict:
    """Logistic regression on mbegu's own split, with mbegu's encoder's column roles."""
    import json

    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    processed = project / "artifacts" / "processed"
    encoder = json.loads((processed / "encoder.json").read_text())
    read = {"dtype": str, "keep_default_na": False, "na_values": [""]}
    train = pd.read_csv(processed / "train.csv", **read)
    test = pd.read_csv(processed / "test.csv", **read)
    target = encoder["target"]
    if text_column:
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            LogisticRegression(max_iter=2000),
        )
        x_train, x_test = train[text_column].fillna(""), test[text_column].fillna("")
    else:
        numeric, categorical = encoder["numeric"], encoder["categorical"]
        for frame in (train, test):
            frame[numeric] = frame[numeric].apply(pd.to_numeric).fillna(0)
        model = make_pipeline(
            ColumnTransformer(
                [
                    ("num", StandardScaler(), numeric),
                    ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                ]
            ),
            LogisticRegression(max_iter=5000),
        )
        x_train, x_test = train[numeric + categorical], test[numeric + categorical]
    model.fit(x_train, train[target])
    predicted = model.predict(x_test)
    return {
        "acc": accuracy_score(test[target], predicted),
        "f1_weighted": f1_score(test[target], predicted, average="weighted"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, help="a CSV/TSV/Parquet table (default: bundled)")
    parser.add_argument("--text", type=Path, help="a CSV/TSV file of texts and labels")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--target", default="target")
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for mbegu")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

    scratch = Path(tempfile.mkdtemp(prefix="mbegu-bench-data-"))
    rows = []
    try:
        project = scratch / "project"
        (project / "data").mkdir(parents=True)
        shutil.copytree(REPO / "conf", project / "conf")
        shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
        os.chdir(project)
        os.environ["MBEGU_ROOT"] = str(project)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
        if args.text:
            shutil.copy(args.text, project / "data" / args.text.name)
            jobs = {
                args.text.name: (
                    [
                        "data=text",
                        "model=text",
                        f"data.path=data/{args.text.name}",
                        f"data.text_column={args.text_column}",
                        f"data.target={args.target}",
                    ],
                    args.text_column,
                    "f1_weighted",
                )
            }
        else:
            tables = (
                {args.table.name: shutil.copy(args.table, project / "data" / args.table.name)}
                if args.table
                else bundled_tables(project / "data")
            )
            jobs = {
                name: (
                    [
                        "data=table",
                        f"data.path=data/{Path(path).name}",
                        f"data.target={args.target}",
                    ],
                    None,
                    "acc",
                )
                for name, path in tables.items()
            }
        for name, (overrides, text_column, metric) in jobs.items():
            ours = run_mbegu(project, [*overrides, "data.name=bench", *args.overrides])
            theirs = baseline(project, text_column)
            rows.append((name, metric, ours[metric], theirs[metric]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    target = f"target: mbegu >= logreg - {TOLERANCE}"
    print(f"\n{'data':<20} {'metric':<12} {'mbegu':>8} {'logreg':>8}  {target}")
    failed = False
    for name, metric, ours, theirs in rows:
        met = ours >= theirs - TOLERANCE
        failed |= not met
        print(f"{name:<20} {metric:<12} {ours:8.4f} {theirs:8.4f}  {'met' if met else 'NOT met'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
