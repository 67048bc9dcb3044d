"""The MLflow model: an mbegu model folder served through MLflow's pyfunc interface.

Logged with `loader_module="mbegu.models.mlflow_model"` and the model folder as data: MLflow then
imports this installed module and calls `_load_pyfunc(folder)`. Nothing is pickled and no code
travels with the model, so loading it from a store runs only the mbegu you installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mbegu.errors import MbeguError
from mbegu.models.saved import SavedModel, load_model


class Predictor:
    """Raw feature columns in, one probability column per class name out."""

    def __init__(self, saved: SavedModel) -> None:
        self.saved = saved

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        return probabilities(self.saved, model_input)


def probabilities(saved: SavedModel, frame: Any) -> Any:
    """A DataFrame with one column per class name; rows as in `frame`."""
    import pandas as pd
    import torch

    missing = [c for c in saved.features if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise MbeguError(
            f"the input lacks {len(missing)} feature column(s) the model needs ({shown}): give "
            f"it the training columns {saved.features[0]}..{saved.features[-1]}"
        )
    values = frame[saved.features].to_numpy(dtype=np.float32, copy=True)
    if not np.isfinite(values).all():
        raise MbeguError("the input has missing or infinite values in feature columns")
    with torch.no_grad():
        probs = torch.softmax(saved.net(torch.from_numpy(values)), dim=-1).numpy()
    return pd.DataFrame(probs.astype(np.float64), columns=saved.classes, index=frame.index)


def _load_pyfunc(path: str) -> Predictor:
    """MLflow's entry point for `loader_module` models."""
    return Predictor(load_model(Path(path)))


def log_model(
    tracker: Any,
    run_id: str,
    saved: SavedModel,
    model_dir: Path,
    example: Any,
    register: bool = True,
    step: int = 0,
) -> tuple[str | None, str | None]:
    """Log a model folder (`saved`, loaded from `model_dir`) as the run's MLflow model:
    (registered version or None, model id).

    The folder travels as data and this module is the loader, so the store holds no pickle
    and no code; serving needs mbegu installed (`mlflow models serve --env-manager local`).
    """
    import logging
    from importlib import metadata

    import mlflow
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    signature = infer_signature(example, probabilities(saved, example))
    pins = [f"{name}=={metadata.version(name)}" for name in ("mlflow", "pandas", "numpy")]
    pins.append(f"torch=={metadata.version('torch').split('+')[0]}")
    mlflow.set_tracking_uri(tracker.tracking_uri)
    for logger in ("mlflow.models.model", "mlflow.pyfunc"):
        logging.getLogger(logger).setLevel(logging.WARNING)
    name = tracker.registered_model_name if register else None
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            loader_module=__name__,
            data_path=str(model_dir),
            signature=signature,
            input_example=example,
            pip_requirements=pins,
            registered_model_name=name,
            step=step,  # MLflow links this step's metrics (the last epoch's) to the model
        )
    version = getattr(info, "registered_model_version", None)
    return (str(version) if version else None), getattr(info, "model_id", None)
