"""scikit-learn's baselines on the split mbegu's `prepare` wrote: what mbegu is held against.

Text: TF-IDF of word 1-2-grams, and of character 2-5-grams within word boundaries, each with
LogisticRegression; C (1 or 10) chosen on the val split, as mbegu chooses its epoch on it.
Tables: LogisticRegression on standardised numeric and one-hot categorical columns. Images:
LogisticRegression on each image shrunk to 16 x 16 grayscale pixels. Every baseline fits on
train only and is scored on test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

C_GRID = (1.0, 10.0)  # LogisticRegression's inverse L2 strength, picked on val


def read_prepared(project: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The encoder's JSON and the train / val / test rows mbegu prepared."""
    from mbegu.data.split import SPLITS, read_split, split_file

    processed = project / "artifacts" / "processed"
    encoder = json.loads((processed / "encoder.json").read_text())
    frames = {s: read_split(split_file(processed, s)) for s in SPLITS}
    return encoder, frames


def scores(truth: Any, predicted: Any) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "acc": float(accuracy_score(truth, predicted)),
        "f1_weighted": float(f1_score(truth, predicted, average="weighted")),
    }


def text_baselines(project: Path) -> dict[str, dict[str, float]]:
    """{name: test scores} for TF-IDF word and character n-grams + logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    encoder, frames = read_prepared(project)
    column, target = encoder["text_column"], encoder["target"]
    x = {split: frame[column].fillna("") for split, frame in frames.items()}
    y = {split: frame[target] for split, frame in frames.items()}
    vectorizers = {
        "tfidf_word": {"ngram_range": (1, 2)},
        "tfidf_char": {"analyzer": "char_wb", "ngram_range": (2, 5)},
    }
    out = {}
    for name, options in vectorizers.items():
        model = best_on_val(
            lambda c, options=options: make_pipeline(
                TfidfVectorizer(sublinear_tf=True, **options),
                LogisticRegression(C=c, max_iter=2000),
            ),
            x,
            y,
        )
        out[name] = scores(y["test"], model.predict(x["test"]))
    return out


def best_on_val(
    make: Callable[[float], Any], x: Mapping[str, Any], y: Mapping[str, Any], val: str = "val"
) -> Any:
    """make(C) fitted on x["train"] for each C in C_GRID: the one with the best weighted F1 on
    `val` (the first of equals)."""
    models = [make(c).fit(x["train"], y["train"]) for c in C_GRID]
    return max(models, key=lambda m: scores(y[val], m.predict(x[val]))["f1_weighted"])


def table_baseline(project: Path) -> dict[str, dict[str, float]]:
    """{"logreg": test scores} on mbegu's column roles (numeric scaled, categories one-hot)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encoder, frames = read_prepared(project)
    numeric, categorical = encoder["numeric"], encoder["categorical"]
    for frame in frames.values():
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
    train, test = frames["train"], frames["test"]
    model.fit(train[numeric + categorical], train[encoder["target"]])
    return {"logreg": scores(test[encoder["target"]], model.predict(test[numeric + categorical]))}


def image_baseline(project: Path) -> dict[str, dict[str, float]]:
    """{"logreg": test scores} on 16 x 16 grayscale pixels of the images `prepare` decoded.

    The baseline `evaluate` logs for an image model (mbegu.evaluation.images), read from the
    same pixel cache the network trained on.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from mbegu.data.pixels import pixels_file
    from mbegu.evaluation.images import pixel_features

    _, frames = read_prepared(project)
    processed = project / "artifacts" / "processed"
    x = {s: pixel_features(np.load(pixels_file(processed, s))) for s in ("train", "test")}
    y = {s: frames[s]["label"].to_numpy() for s in ("train", "test")}
    model = LogisticRegression(max_iter=300, random_state=0).fit(x["train"], y["train"])
    return {"logreg": scores(y["test"], model.predict(x["test"]))}
