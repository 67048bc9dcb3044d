"""`mbegu predict`: class probabilities for new rows, from any of the three ways to name a model.

- an MLflow run id (the model that run logged),
- a registered model name and alias (`mbegu-digits@candidate`),
- a model folder: the DVC pipeline's artifacts/model (the default) or an ad hoc run's
  `checkpoints/RUN_ID/model`.

Each runs on either engine: torch (model.pt) or ONNX Runtime (model.onnx, torch never imported).
An image model reads files instead of rows (inference.images).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from mbegu.errors import MbeguError, first_line
from mbegu.security import mask_secrets

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.models.onnx_model import OnnxModel
    from mbegu.models.saved import SavedModel

# (DataFrame of feature columns, where they come from, its first row in the file) -> DataFrame
# of mbegu.models.answers' columns (quoted: pandas loads on use).
Predictor: TypeAlias = "Callable[[pd.DataFrame, str, int], pd.DataFrame]"


@dataclass
class LoadedModel:
    """A model to predict with, however it was named: its predictor, its folder, its source.

    Attributes:
        predict: Raw rows -> `prediction` and a `prob_CLASS` column per class.
        saved: The model folder behind it: encoder, classes, training config.
        source: The model as the user named it: a folder, `runs:/...` or `models:/...`.
    """

    predict: Predictor
    saved: SavedModel | OnnxModel
    source: str

    @property
    def features(self) -> list[str]:
        """The input columns the model reads (a text model's: its text column)."""
        return self.saved.features

    @property
    def target(self) -> str:
        """The label column the model was trained on, compared when the input has it."""
        return self.saved.encoder.target

    @property
    def text_column(self) -> str | None:
        """A text model's input column: passed through, so each answer sits by its text."""
        return getattr(self.saved.encoder, "text_column", None)

    @property
    def label_normalize(self) -> bool:
        """data.label_normalize: the labels were stripped and lower-cased for training."""
        return bool(self._data.get("label_normalize"))

    @property
    def drop(self) -> list[str]:
        """data.drop: the columns training left out, ids among them, which name output rows."""
        return [str(c) for c in self._data.get("drop") or ()]

    @property
    def _data(self) -> dict[str, Any]:
        return self.saved.config.get("data") or {}


def from_folder(model_dir: Path, engine: str = "torch") -> LoadedModel:
    """A model folder (artifacts/model, or an ad hoc run's), loaded by mbegu's own loader.

    Args:
        model_dir: The model folder (model.json, model.pt, model.onnx).
        engine: `torch` (model.pt) or `onnx` (model.onnx, without torch).

    Returns:
        The model, predicting as the MLflow model would.

    Raises:
        MbeguError: The folder holds no model, or one mbegu refuses to load (models.saved).
    """
    from mbegu.models.answers import predictions
    from mbegu.models.mlflow_model import load_engine

    saved = load_engine(model_dir, engine)

    def predict(frame: pd.DataFrame, where: str, first_row: int) -> pd.DataFrame:
        return predictions(saved, frame, where, first_row)

    return LoadedModel(predict, saved, str(model_dir))


def from_mlflow(uri: str, tracking_uri: str, engine: str = "torch") -> LoadedModel:
    """A pyfunc model from the store: `runs:/ID/model` or `models:/NAME@ALIAS`.

    Args:
        uri: The model's MLflow URI.
        tracking_uri: The store that holds it.
        engine: `torch` or `onnx` (the MLflow model's model_config, models.mlflow_model).

    Returns:
        The model, its numeric inputs typed as the MLflow signature wants them.

    Raises:
        MbeguError: The store has no model there, or it is not an mbegu model (refused unloaded).
    """
    import mlflow
    import mlflow.pyfunc
    import pandas as pd
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(tracking_uri)
    try:
        _require_mbegu_model(uri)
        model = mlflow.pyfunc.load_model(uri, model_config={"engine": engine})
    except (MlflowException, OSError, ModuleNotFoundError) as err:
        first = mask_secrets(first_line(err, 200))
        raise MbeguError(
            f"no mbegu model at {uri} in {mask_secrets(tracking_uri)} ({first}): check the run "
            f"id or name@alias in `mbegu ui`, or run `dvc repro` to make one"
        ) from None
    schema = model.metadata.get_input_schema()
    features = schema.input_names()
    numeric = {
        c.name for c in schema.inputs if getattr(c.type, "name", "") in ("double", "float", "long")
    }

    def predict(frame: pd.DataFrame, where: str, first_row: int) -> pd.DataFrame:
        from mbegu.features.cells import numeric_values

        typed = frame[features].copy()
        for column in numeric:  # MLflow enforces the signature: numbers as numbers
            typed[column] = numeric_values(frame, column, where, first_row)
        return pd.DataFrame(model.predict(typed))

    # The served model logs unseen categories for its server's log; here predict_file warns
    # once itself, naming the file.
    logging.getLogger(LOADER).setLevel(logging.ERROR)
    return LoadedModel(predict, model.get_raw_model(), uri)  # mbegu's Predictor: its folder


LOADER = "mbegu.models.mlflow_model"


def _require_mbegu_model(uri: str) -> None:
    """Read the model's MLmodel file (YAML) first: only mbegu's own loader is trusted to load it.

    Another flavor could unpickle whatever the store holds.
    """
    from mlflow.models import get_model_info

    flavor = get_model_info(uri).flavors.get("python_function", {})
    if flavor.get("loader_module") != LOADER or flavor.get("code"):  # code: put on sys.path
        raise MbeguError(
            f"{uri} is not an mbegu model (loader {flavor.get('loader_module')!r}, code "
            f"{flavor.get('code')!r}): refused, nothing was loaded; load other models with "
            f"MLflow yourself if you trust them"
        )


def check_output(input_path: Path, output: Path, data_dir: Path, force: bool = False) -> None:
    """Refuse an output that replaces the input, lands among the raw data or overwrites unasked.

    Predictions written among the raw data would silently alter what DVC versions and what the next
    run trains on. Checked before any model is loaded.

    Args:
        input_path: The CSV of rows to predict.
        output: The CSV to write.
        data_dir: The data folder (data.dir), which DVC versions.
        force: Replace an existing output.

    Raises:
        MbeguError: The output is the input, lies in the data folder, or exists without `force`.
    """
    target = output.resolve()
    if target == input_path.resolve():
        raise MbeguError(
            f"-o {output} is the input file itself: predicting would overwrite your data; "
            f"write the predictions elsewhere, e.g. -o predictions.csv"
        )
    folder = data_dir.resolve()
    if folder in target.parents:
        raise MbeguError(
            f"-o {output} lies inside the data folder {data_dir.name}/ (data.dir, versioned by "
            f"DVC as your raw data): write the predictions elsewhere, e.g. -o predictions.csv"
        )
    if not force and (target.exists() or output.is_symlink()):
        raise MbeguError(
            f"{output} already exists: pass --force to overwrite it, or name another file with -o"
        )
