"""Does any linear model of n-grams beat the character baseline? Test split, per language.

The question behind `model=text` trailing TF-IDF character 2-5-grams + logistic regression on
Kiswahili: is there a better family of n-gram features, or a mix of them, that a default could
use? Each row fits scikit-learn's LogisticRegression on TF-IDF features (sublinear term
weights, as the baselines) of the raw tweets, C (1 or 10) chosen on the dev split by weighted
F1, and prints weighted F1 on test:

- single feature families and unions of them (one model over the stacked features);
- "mean of" rows average the class probabilities of one model per view (each with its own C);
- the last row is the mix chosen on dev among the "mean of" rows, the only fair pick of them.

The first row is the baseline `evaluate` and `make bench-data` report (`tfidf_char`). No mbegu
code runs here: the rows bound what a linear model of these n-grams reaches, whoever trains
it. scikit-learn's solver sums over BLAS threads, so figures move in the fourth decimal with
the thread count; run with OMP_NUM_THREADS=1 to compare with docs/benchmarks.md.

Usage:
  python benchmarks/ngram_views.py                     # yo ig sw pcm, bundled splits
  python benchmarks/ngram_views.py --splits DIR/am     # DIR/am_train.tsv, _dev.tsv, _test.tsv
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

from baselines import best_on_val, scores
from data_quality import AFRISENTI, LANGUAGES

VIEWS: dict[str, dict[str, Any]] = {
    "char_wb 2-5": {"analyzer": "char_wb", "ngram_range": (2, 5)},
    "char 1-5": {"analyzer": "char", "ngram_range": (1, 5)},
    "char 2-6": {"analyzer": "char", "ngram_range": (2, 6)},
    "word 1-2": {"ngram_range": (1, 2)},
}
FAMILIES: tuple[tuple[str, ...], ...] = (
    ("char_wb 2-5",),
    ("char 1-5",),
    ("char 2-6",),
    ("word 1-2", "char_wb 2-5"),
    ("word 1-2", "char 1-5"),
)
MIXED = ("word 1-2", "char_wb 2-5", "char 1-5")  # views whose models' probabilities are averaged


def read_splits(prefix: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """{split: (tweets, labels)} from PREFIX_train.tsv, _dev.tsv, _test.tsv (ID, tweet, label)."""
    out = {}
    for split in ("train", "dev", "test"):
        path = prefix.parent / f"{prefix.name}_{split}.tsv"
        if not path.is_file():
            sys.exit(f"error: {path} not found; pass --splits DIR/xx for DIR/xx_train.tsv etc.")
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        out[split] = ([r["tweet"] for r in rows], np.array([r["label"] for r in rows]))
    return out


def weighted_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return scores(truth, predicted)["f1_weighted"]


def view_matrices(data: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, dict[str, Any]]:
    """{view: {split: sparse TF-IDF matrix}}, each vectorizer fitted on train."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    out = {}
    for name, options in VIEWS.items():
        vectorizer = TfidfVectorizer(sublinear_tf=True, **options).fit(data["train"][0])
        out[name] = {split: vectorizer.transform(texts) for split, (texts, _) in data.items()}
    return out


def stacked(views: dict[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """{split: the named views' matrices side by side}."""
    from scipy.sparse import hstack

    return {split: hstack([views[n][split] for n in names]).tocsr() for split in views[names[0]]}


def fitted(x: dict, data: dict[str, tuple[list[str], np.ndarray]]) -> Any:
    """The logistic regression whose C scores the best weighted F1 on dev."""
    from sklearn.linear_model import LogisticRegression

    y = {split: labels for split, (_, labels) in data.items()}
    return best_on_val(lambda c: LogisticRegression(C=c, max_iter=2000), x, y, val="dev")


def language_rows(data: dict[str, tuple[list[str], np.ndarray]]) -> dict[str, float]:
    """{row name: test weighted F1} for every family, every mix, and the mix chosen on dev."""
    views, rows = view_matrices(data), {}
    for family in FAMILIES:
        x = stacked(views, family)
        rows[" + ".join(family)] = weighted_f1(data["test"][1], fitted(x, data).predict(x["test"]))
    probabilities = {}
    for view in MIXED:
        model = fitted(views[view], data)
        probabilities[view] = {s: model.predict_proba(views[view][s]) for s in ("dev", "test")}
    classes = model.classes_
    dev_scores = {}
    for size in (2, 3):
        for mix in itertools.combinations(MIXED, size):
            name = "mean of " + " / ".join(mix)
            mean = {s: np.mean([probabilities[v][s] for v in mix], axis=0) for s in ("dev", "test")}
            dev_scores[name] = weighted_f1(data["dev"][1], classes[mean["dev"].argmax(axis=1)])
            rows[name] = weighted_f1(data["test"][1], classes[mean["test"].argmax(axis=1)])
    rows["mean, mix chosen on dev"] = rows[max(dev_scores, key=dev_scores.__getitem__)]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--splits",
        action="append",
        type=Path,
        help="DIR/xx: read DIR/xx_train.tsv, DIR/xx_dev.tsv, DIR/xx_test.tsv (repeatable)",
    )
    args = parser.parse_args(argv)
    prefixes = args.splits or [AFRISENTI / language for language in LANGUAGES]
    table = {prefix.name: language_rows(read_splits(prefix)) for prefix in prefixes}
    names = list(next(iter(table.values())))
    print("| test weighted F1 | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for name in names:
        cells = " | ".join(f"{scores[name]:.4f}" for scores in table.values())
        print(f"| {name} | {cells} |")
    baseline = {language: scores[names[0]] for language, scores in table.items()}
    beaten = {
        language: [n for n in names[1:] if scores[n] > baseline[language]]
        for language, scores in table.items()
    }
    for language, rows in beaten.items():
        print(f"{language}: {len(rows)} of {len(names) - 1} rows above {names[0]}")


if __name__ == "__main__":
    main()
