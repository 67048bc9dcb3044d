"""`mbegu predict`: class probabilities for new rows, from any of the three ways to name a model.

- an MLflow run id (the model that run logged),
- a registered model name and alias (`mbegu-digits@candidate`),
- a model folder: the DVC pipeline's artifacts/model (the default) or an ad hoc run's
  checkpoints/<run id>/model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError, first_line
from mbegu.io import atomic_write_text
from mbegu.security import mask_secrets

Predictor = Callable[[Any], Any]  # DataFrame of feature columns -> DataFrame, a column a class


@dataclass
class LoadedModel:
    predict: Predictor
    features: list[str]
    source: str


def from_folder(model_dir: Path) -> LoadedModel:
    from mbegu.models.mlflow_model import probabilities
    from mbegu.models.saved import load_model

    saved = load_model(model_dir)
    return LoadedModel(lambda frame: probabilities(saved, frame), saved.features, str(model_dir))


def from_mlflow(uri: str, tracking_uri: str) -> LoadedModel:
    """A pyfunc model from the store: `runs:/<id>/model` or `models:/<name>@<alias>`."""
    import mlflow
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    try:
        _require_mbegu_model(uri)
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError, ModuleNotFoundError) as err:
        first = mask_secrets(first_line(err, 200))
        raise MbeguError(
            f"no mbegu model at {uri} in {mask_secrets(tracking_uri)} ({first}): check the run "
            f"id or name@alias in `mbegu ui`, or run `dvc repro` to make one"
        ) from None
    features = model.metadata.get_input_schema().input_names()

    def predict(frame: Any) -> Any:
        return pd.DataFrame(model.predict(frame[features].astype("float64")))

    return LoadedModel(predict, features, uri)


LOADER = "mbegu.models.mlflow_model"


def _require_mbegu_model(uri: str) -> None:
    """Read the model's MLmodel file (YAML) first: only mbegu's own loader is trusted to load
    it; another flavor could unpickle whatever the store holds."""
    from mlflow.models import get_model_info

    flavor = get_model_info(uri).flavors.get("python_function", {})
    if flavor.get("loader_module") != LOADER or flavor.get("code"):  # code: put on sys.path
        raise MbeguError(
            f"{uri} is not an mbegu model (loader {flavor.get('loader_module')!r}, code "
            f"{flavor.get('code')!r}): refused, nothing was loaded; load other models with "
            f"MLflow yourself if you trust them"
        )


def predict_csv(model: LoadedModel, input_csv: Path, output_csv: Path) -> dict[str, float]:
    """Write `prediction,prob_<class>...` (and `label`, when the input has one) per input row.

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
    classes = [str(c) for c in probs.columns]
    out = pd.DataFrame(probs.to_numpy(), columns=[f"prob_{c}" for c in classes])
    predicted = [classes[i] for i in probs.to_numpy().argmax(axis=1)]
    out.insert(0, "prediction", predicted)
    result: dict[str, float] = {}
    if "label" in frame.columns:
        labels = frame["label"].astype(str).to_numpy()
        out.insert(0, "label", frame["label"].to_numpy())
        result["accuracy"] = float((out["prediction"].to_numpy() == labels).mean())
    atomic_write_text(output_csv, out.to_csv(index=False, float_format="%.6g"))
    return result
