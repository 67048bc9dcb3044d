"""`mbegu predict`: class probabilities for new rows, from any of the three ways to name a model.

- an MLflow run id (the model that run logged),
- a registered model name and alias (`mbegu-digits@candidate`),
- the DVC pipeline's output (artifacts/model), the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mbegu.errors import MbeguError, first_line
from mbegu.io import atomic_write_text

Predictor = Callable[["object"], np.ndarray]  # DataFrame of feature columns -> probabilities


@dataclass
class LoadedModel:
    predict: Predictor
    features: list[str]
    source: str


def from_pipeline(model_dir: Path) -> LoadedModel:
    import torch

    from mbegu.data.digits import feature_columns
    from mbegu.training.artifacts import load_model

    net, config = load_model(model_dir)
    features = feature_columns(config["data"]["num_features"])

    def predict(frame: object) -> np.ndarray:
        rows = torch.from_numpy(frame.to_numpy(dtype=np.float32))  # type: ignore[attr-defined]
        with torch.no_grad():
            return torch.softmax(net(rows), dim=-1).numpy()

    return LoadedModel(predict, features, str(model_dir))


def from_mlflow(uri: str, tracking_uri: str) -> LoadedModel:
    """A pyfunc model from the store: `runs:/<id>/model` or `models:/<name>@<alias>`."""
    import mlflow
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    try:
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as err:
        first = first_line(err, 200)
        raise MbeguError(
            f"no model at {uri} in {tracking_uri} ({first}): check the run id or name@alias in "
            f"`mbegu ui`, or run `dvc repro` to make one"
        ) from None
    features = model.metadata.get_input_schema().input_names()

    def predict(frame: object) -> np.ndarray:
        return np.asarray(model.predict(frame.astype(np.float64)))  # type: ignore[attr-defined]

    return LoadedModel(predict, features, uri)


def predict_csv(model: LoadedModel, input_csv: Path, output_csv: Path) -> dict[str, float]:
    """Write `prediction,prob_0..prob_k` (and `label`, when the input has one) per input row.

    Returns the accuracy when the input has a label column, else {}.
    """
    import pandas as pd

    if not input_csv.is_file():
        raise MbeguError(f"input file {input_csv} not found: pass a CSV of rows to predict")
    frame = pd.read_csv(input_csv)
    missing = [c for c in model.features if c not in frame.columns]
    if missing:
        raise MbeguError(
            f"{input_csv} lacks {len(missing)} feature column(s) the model needs "
            f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): give it the "
            f"training columns {model.features[0]}..{model.features[-1]}"
        )
    features = frame[model.features]
    if features.isna().any().any():
        raise MbeguError(f"{input_csv} has missing values in feature columns: fill or drop them")
    probs = model.predict(features)
    preds = probs.argmax(axis=1)
    out = pd.DataFrame(probs, columns=[f"prob_{k}" for k in range(probs.shape[1])])
    out.insert(0, "prediction", preds)
    result: dict[str, float] = {}
    if "label" in frame.columns:
        out.insert(0, "label", frame["label"].to_numpy())
        result["accuracy"] = float((preds == frame["label"].to_numpy()).mean())
    atomic_write_text(output_csv, out.to_csv(index=False, float_format="%.6g"))
    return result
