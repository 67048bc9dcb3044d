"""The MLflow model: an mbegu model folder served through MLflow's pyfunc interface.

Logged with `loader_module="mbegu.models.mlflow_model"` and the model folder as data: MLflow then
imports this installed module and calls `_load_pyfunc(folder)`. Nothing is pickled and no code
travels with the model, so loading it from a store runs only the mbegu you installed.

The model config's `engine` picks what runs the network: `torch` (logged as the default:
model.pt) or `onnx` (model.onnx with ONNX Runtime, no torch imported), e.g.
`mlflow.pyfunc.load_model(uri, model_config={"engine": "onnx"})`. Where torch is not
installed, the default falls back to onnx.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbegu.errors import MbeguError
from mbegu.models.answers import predictions, unseen_categories, unseen_line
from mbegu.models.saved import SavedModel, load_model

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.models.onnx_model import OnnxModel
    from mbegu.tracking.tracker import MlflowTracker


class Predictor:
    """The MLflow pyfunc model: the user's raw columns (or text column) in, answers out.

    An image model takes each image's file bytes base64-encoded in an `image` column
    (models.image_answers). Out come the predicted class name and one `prob_CLASS` column per
    class (mbegu.models.answers, as `mbegu predict` writes).
    """

    def __init__(self, saved: SavedModel | OnnxModel) -> None:
        self.saved = saved

    def predict(
        self, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Answer a request's rows; unseen categories get a warning in the server's log."""
        from mbegu.models.image_answers import is_image_model

        if is_image_model(self.saved):  # bytes or base64 text; never a path (no file is read)
            return _image_answers(self.saved, model_input)
        line = unseen_line(unseen_categories(self.saved.encoder, model_input), "the request")
        if line:  # the server's log: a served model answers anyway, as `mbegu predict` does
            logging.getLogger(__name__).warning(line)
        return predictions(self.saved, model_input)

    def get_raw_model(self) -> SavedModel | OnnxModel:
        """What MLflow's PyFuncModel.get_raw_model() returns: the model and its encoder."""
        return self.saved


def _image_answers(saved: SavedModel | OnnxModel, model_input: pd.DataFrame) -> pd.DataFrame:
    """A request of base64 images answered; a bad one is the client's error, not the server's.

    MLflow's server answers an MlflowException with its message and a 400 status (a JSON error
    naming the image and the fix); any other exception would come back as a stack trace.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    try:
        return predictions(saved, model_input, "the request")
    except MbeguError as err:
        raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


ENGINES = ("torch", "onnx")


def load_engine(model_dir: Path, engine: str = "torch") -> SavedModel | OnnxModel:
    """A model folder loaded for `engine`: torch (model.pt) or onnx (model.onnx, no torch)."""
    if engine == "onnx":
        from mbegu.models.onnx_model import load_onnx

        return load_onnx(model_dir)
    if engine != "torch":
        raise MbeguError(f"engine {engine!r} is not one of {', '.join(ENGINES)}: pick one")
    return load_model(model_dir)


def _load_pyfunc(path: str, model_config: dict[str, Any] | None = None) -> Predictor:
    """MLflow's entry point for loader_module models; `engine` in model_config: the runtime.

    The logged default, torch, falls back to model.onnx where torch is not installed (a
    serving-only install): `mlflow models serve` cannot pass a model config.
    """
    from importlib.util import find_spec

    engine = (model_config or {}).get("engine", "torch")
    if engine == "torch" and find_spec("torch") is None and (Path(path) / "model.onnx").is_file():
        logging.getLogger(__name__).warning("torch is not installed: serving model.onnx (ONNX)")
        engine = "onnx"
    return Predictor(load_engine(Path(path), engine))


# What MLflow's registry prints (print to stderr, not a logger, so no level hides it) and the
# stage's own line says better: "promoted: NAME vN is now @candidate ...".
REGISTRY_CHATTER = ("Successfully registered model", "Registered model '", "Created version '")


@contextmanager
def registry_chatter_dropped() -> Iterator[None]:
    """Stderr as it was, less MLflow's registry lines (all of it with `-v`)."""
    from mbegu.logs import verbose

    if verbose():
        yield
        return
    held = io.StringIO()
    try:
        with redirect_stderr(held):
            yield
    finally:
        kept = [x for x in held.getvalue().splitlines(True) if not x.startswith(REGISTRY_CHATTER)]
        sys.stderr.write("".join(kept))


def log_model(
    tracker: MlflowTracker,
    run_id: str,
    saved: SavedModel,
    model_dir: Path,
    example: pd.DataFrame,
    register: bool = True,
    step: int = 0,
) -> tuple[str | None, str | None]:
    """Log a model folder (`saved`, loaded from `model_dir`) as the run's MLflow model.

    Returns (registered version or None, model id).

    The folder travels as data and this module is the loader, so the store holds no pickle
    and no code; serving needs mbegu installed (`mlflow models serve --env-manager local`).
    """
    from importlib import metadata

    import mlflow
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    from mbegu.features.image import ImageEncoder
    from mbegu.models.image_answers import example_request

    if isinstance(saved.encoder, ImageEncoder):  # a request sends images as base64 text
        example = example_request(saved.encoder, example)
    signature = infer_signature(example, predictions(saved, example))
    pins = [f"{name}=={metadata.version(name)}" for name in ("mlflow", "pandas", "numpy")]
    pins.append(f"torch=={metadata.version('torch').split('+')[0]}")
    if isinstance(saved.encoder, ImageEncoder):  # decodes the request's images
        pins.append(f"pillow=={metadata.version('pillow')}")
    mlflow.set_tracking_uri(tracker.tracking_uri)
    for logger in ("mlflow.models.model", "mlflow.pyfunc"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    name = tracker.registered_model_name if register else None
    data = saved.config.get("data") or {}
    with mlflow.start_run(run_id=run_id), registry_chatter_dropped():
        info = mlflow.pyfunc.log_model(
            name="model",
            loader_module=__name__,
            data_path=str(model_dir),
            signature=signature,
            input_example=example,
            pip_requirements=pins,
            model_config={"engine": "torch"},  # {"engine": "onnx"} at load: no torch needed
            registered_model_name=name,
            metadata={
                "mbegu_target": saved.encoder.target,
                "mbegu_classes": saved.classes,
                "mbegu_label_normalize": bool(data.get("label_normalize")),
                "mbegu_drop": [str(c) for c in data.get("drop") or ()],  # ids name rows
            },
            step=step,  # MLflow links this step's metrics (the last epoch's) to the model
        )
    version = getattr(info, "registered_model_version", None)
    return (str(version) if version else None), getattr(info, "model_id", None)
