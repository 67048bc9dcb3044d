"""Simple scikit-learn models scored beside the network, so a run shows what the network adds.

Each baseline is fitted on the same encoded train split the network trained on and scored on
the same test split, through the saved model's encoder: a table's standardised numeric and
one-hot columns, a text's n-gram ids (as TF-IDF), an image's pixels shrunk to 16 x 16 gray
(evaluation.images; evaluate reads them from prepare's pixel cache). Fixed seeds and a single
fit each, so the scores are the same bytes on every run on one machine. scikit-learn is
imported only when a baseline is fitted: `mbegu --help` stays light.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.config.schema import BASELINES
from mbegu.features import Encoder
from mbegu.features.image import ImageEncoder
from mbegu.features.text import TextEncoder

if TYPE_CHECKING:
    import pandas as pd

# The scores each baseline gets: the test metrics where higher is better (promote_if's).
BASELINE_METRICS = ("acc", "f1_macro", "f1_weighted")
# Baselines that read a table's columns only; the one that images have.
TABLE_ONLY = ("hgb",)
IMAGE_BASELINES = ("majority", "logreg")  # logreg: on 16 x 16 grayscale pixels
SEED = 0


def metric_key(name: str, metric: str) -> str:
    """The MLflow name of a baseline's score: `baseline_logreg_acc`.

    Like test_acc (promotion.test_metric_key), no `/`: the run page would put a `baseline/`
    section of charts before the `train/` and `val/` curves.

    Args:
        name: The baseline, e.g. logreg.
        metric: The score, e.g. f1_weighted.

    Returns:
        The metric's name in the run.
    """
    return f"baseline_{name}_{metric}"


def flat_baseline_metrics(baseline: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Every baseline score under its MLflow name (metric_key).

    Args:
        baseline: {baseline: {metric: value}}, as in reports/metrics.json.

    Returns:
        {metric_key(baseline, metric): value}.
    """
    return {
        metric_key(name, metric): float(value)
        for name, scores in baseline.items()
        for metric, value in scores.items()
    }


def applicable(names: Sequence[str], encoder: Encoder) -> list[str]:
    """The asked-for baselines that this data's kind can have (text skips the table-only ones).

    Args:
        names: Baselines from evaluate.baselines.
        encoder: The saved model's encoder.

    Returns:
        The names to fit, in BASELINES' order.
    """
    text = isinstance(encoder, TextEncoder)
    if isinstance(encoder, ImageEncoder):
        return [n for n in BASELINES if n in names and n in IMAGE_BASELINES]
    return [n for n in BASELINES if n in names and not (text and n in TABLE_ONLY)]


def score_baselines(
    names: Sequence[str], encoder: Encoder, train: pd.DataFrame, test: pd.DataFrame
) -> dict[str, dict[str, float]]:
    """Fit each baseline on the train split's rows and score it on the test split's.

    Args:
        names: Baselines from evaluate.baselines (majority, logreg, hgb).
        encoder: The encoder the model was trained with: the baselines read what it read.
        train: The train split's raw rows.
        test: The test split's raw rows.

    Returns:
        {baseline: {acc, f1_macro, f1_weighted}}, six decimals as the test metrics have; empty
        when none applies.
    """
    if isinstance(encoder, ImageEncoder):  # logistic regression on 16 x 16 gray pixels
        from mbegu.evaluation.images import score_image_baselines

        return score_image_baselines(
            names,
            (encoder.pixels(train, "the train split"), encoder.labels(train, "the train split")),
            (encoder.pixels(test, "the test split"), encoder.labels(test, "the test split")),
            len(encoder.classes),
        )
    chosen = applicable(names, encoder)
    if not chosen:
        return {}
    x_train, x_test = _features(encoder, train, test)
    y_train = encoder.labels(train, "the train split")
    y_test = encoder.labels(test, "the test split")
    return fit_and_score(chosen, (x_train, y_train), (x_test, y_test), len(encoder.classes))


def fit_and_score(
    chosen: Sequence[str], train: tuple[Any, Any], test: tuple[Any, Any], classes: int
) -> dict[str, dict[str, float]]:
    """Fit each named baseline on the train features and score it on the test features.

    Args:
        chosen: Baselines to fit (majority, logreg, hgb).
        train: The train split's (features, class indices).
        test: The test split's (features, class indices).
        classes: How many classes the model has (F1 averages over all of them).

    Returns:
        {baseline: {acc, f1_macro, f1_weighted}}, six decimals.
    """
    x_train, y_train = train
    x_test, y_test = test
    if len(np.unique(y_train)) < 2:  # a classifier cannot fit one class; the majority can
        chosen = [n for n in chosen if n == "majority"]
    from threadpoolctl import threadpool_limits

    scores = {}
    for name in chosen:
        model = _model(name)
        # One thread: these fits are many tiny parallel steps, each of which would wait on
        # threads that torch's or another process's work keeps busy; and one thread gives the
        # same sums, so the same scores, whatever the machine's core count.
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # A fit stopped at its iteration cap still scores; its warning would only be noise.
            warnings.simplefilter("ignore")
            model.fit(x_train, y_train)
            predicted = np.asarray(model.predict(x_test))
        scores[name] = _scores(y_test, predicted, classes)
    return scores


def best_baseline(
    baseline: Mapping[str, Mapping[str, float]], metric: str
) -> tuple[str, float] | None:
    """The baseline with the highest `metric` (the first of equals, in BASELINES' order).

    Args:
        baseline: {baseline: {metric: value}}.
        metric: acc, f1_macro or f1_weighted.

    Returns:
        (name, value), or None when no baseline has that metric.
    """
    found = [(n, float(baseline[n][metric])) for n in BASELINES if metric in baseline.get(n, {})]
    if not found:
        return None
    return max(found, key=lambda pair: pair[1])


def _features(encoder: Encoder, train: pd.DataFrame, test: pd.DataFrame) -> tuple[Any, Any]:
    """What the baselines read: a table's encoded columns, or TF-IDF of a text's n-grams."""
    if not isinstance(encoder, TextEncoder):
        return (
            encoder.transform(train, "the train split").numpy(),
            encoder.transform(test, "the test split").numpy(),
        )
    from sklearn.feature_extraction.text import TfidfTransformer

    tfidf = TfidfTransformer(sublinear_tf=True)
    x_train = tfidf.fit_transform(_counts(encoder, train, "the train split"))
    return x_train, tfidf.transform(_counts(encoder, test, "the test split"))


def _counts(encoder: TextEncoder, frame: pd.DataFrame, where: str) -> Any:
    """A sparse [texts, vocabulary] count matrix of the encoder's n-grams in each text.

    The tokens the network reads (the encoder's own tokenising and vocabulary), counted
    before any weighting of the encoder's: scikit-learn's TF-IDF weighs them.
    """
    from scipy.sparse import csr_matrix

    from mbegu.features.bags import in_vocabulary

    index = {token: i for i, token in enumerate(encoder.vocabulary)}
    ngrams = encoder.ngrams()
    rows, columns, first = [], [], 0
    for count, owner, ids, _ in in_vocabulary(ngrams, encoder.texts(frame, where), index, 0):
        rows.append(owner + first)
        columns.append(ids)
        first += count
    shape = (len(frame), len(encoder.vocabulary))
    flat_rows = np.concatenate([np.zeros(0, dtype=np.int64), *rows])
    flat_columns = np.concatenate([np.zeros(0, dtype=np.int64), *columns])
    # A token twice in one text: one entry, count 2 (duplicates are summed).
    return csr_matrix((np.ones(len(flat_rows)), (flat_rows, flat_columns)), shape=shape)


def _model(name: str) -> Any:
    """A fresh, seeded scikit-learn classifier.

    Sized so that all three cost a small part of the evaluate stage (docs/benchmarks.md).
    """
    if name == "majority":
        from sklearn.dummy import DummyClassifier

        return DummyClassifier(strategy="most_frequent")
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=300, random_state=SEED)
    from sklearn.ensemble import HistGradientBoostingClassifier

    # A fixed number of small trees at a brisk learning rate (on digits as accurate as more,
    # slower rounds); no early stopping, whose validation split would take rows from training.
    return HistGradientBoostingClassifier(
        max_iter=15, learning_rate=0.2, max_leaf_nodes=15, early_stopping=False, random_state=SEED
    )


def _scores(labels: np.ndarray, predicted: np.ndarray, classes: int) -> dict[str, float]:
    """Accuracy, macro and weighted F1 over every class, as the model's test metrics."""
    from sklearn.metrics import accuracy_score, f1_score

    every = list(range(classes))
    values = {
        "acc": accuracy_score(labels, predicted),
        "f1_macro": f1_score(labels, predicted, labels=every, average="macro", zero_division=0),
        "f1_weighted": f1_score(
            labels, predicted, labels=every, average="weighted", zero_division=0
        ),
    }
    return {k: round(float(v), 6) for k, v in values.items()}
