"""evaluate(cfg): test the trained model and complete its MLflow run.

It reopens the run that `train` created (its id is in the model folder's run.json), so one
pipeline run stays one MLflow run.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from mbegu.project import project_root


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test metrics to reports/ and to the run; the model logged (and registered) in MLflow."""
    from hydra.utils import instantiate

    from mbegu.training.artifacts import load_model, read_run_info
    from mbegu.training.train import resolve_paths

    root = project_root()
    paths = resolve_paths(cfg, root)
    run_id = read_run_info(paths["model_dir"])["run_id"]  # no model: fail before heavy imports

    import pytorch_lightning as pl
    import torch

    from mbegu.data.datamodule import build_datamodule
    from mbegu.evaluation.reports import confusion_matrix, per_class_accuracy, write_reports
    from mbegu.io import atomic_write_json
    from mbegu.models.classifier import Classifier
    from mbegu.training.train import quiet_lightning

    quiet_lightning()
    tracker = instantiate(cfg.tracking)
    tracker.require_run(run_id)
    with tracker.run(run_id):
        net, _ = load_model(paths["model_dir"])
        datamodule = build_datamodule(cfg, root)
        module = Classifier(net=net, optimizer=torch.optim.Adam, num_classes=cfg.data.num_classes)
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            logger=False,
            deterministic=True,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        scores = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        probs = torch.cat(trainer.predict(module, datamodule=datamodule)).numpy()
        labels = datamodule.datasets["test"].labels.numpy()
        preds = probs.argmax(axis=1)
        matrix = confusion_matrix(labels, preds, cfg.data.num_classes)
        per_class = per_class_accuracy(matrix)
        test = {k.removeprefix("test/"): round(float(v), 6) for k, v in sorted(scores.items())}
        metrics = {"test": {**test, "per_class_acc": per_class}}
        files = write_reports(paths["reports_dir"], metrics, labels, preds, matrix)
        # Apart from metrics.json, which stays identical across clones: the link from the DVC
        # experiment (a column in `dvc exp show`) to its MLflow run.
        atomic_write_json(paths["reports_dir"] / "run.json", {"mlflow_run_id": run_id})

        flat = {f"test/{k}": v for k, v in test.items()}
        flat |= {f"test/acc_class_{c}": v for c, v in per_class.items()}
        tracker.log_metrics(run_id, flat)
        client = tracker.client
        client.log_artifact(run_id, str(files["confusion_png"]), "plots")
        client.log_artifact(run_id, str(files["metrics"]), "reports")
        history = paths["reports_dir"] / "history.csv"
        if history.is_file():
            client.log_artifact(run_id, str(history), "reports")
        version = log_model(tracker, run_id, net, datamodule.datasets["test"].features[:5])
    print(
        f"test/acc {test['acc']:.4f}  test/f1_macro {test['f1_macro']:.4f}  "
        f"test/loss {test['loss']:.4f}  (MLflow run {run_id}"
        + (f", model {tracker.registered_model_name} v{version}" if version else "")
        + ")"
    )
    return {**metrics, "mlflow_run_id": run_id}


def log_model(tracker: Any, run_id: str, net: Any, example: Any) -> str | None:
    """Log the network as an MLflow Model (raw pixel rows in, class probabilities out).

    The mbegu package travels with it (code_paths), so it loads wherever torch and mlflow do.
    Returns the registered version when tracking.registered_model_name is set.
    """
    import mlflow
    import mlflow.pytorch
    import pandas as pd
    import torch
    from mlflow.models import infer_signature

    import mbegu
    from mbegu.data.digits import feature_columns
    from mbegu.models.networks import Probabilities

    model = Probabilities(net).eval()
    columns = feature_columns(example.shape[1])
    frame = pd.DataFrame(example.numpy().astype(np.float64), columns=columns)
    with torch.no_grad():
        output = model(torch.from_numpy(frame.to_numpy(dtype=np.float32).copy())).numpy()
    signature = infer_signature(frame, output)
    mlflow.set_tracking_uri(tracker.tracking_uri)
    # Pickle is chosen on purpose (named columns in, mbegu shipped as code_paths); pandas'
    # read-only arrays trip a harmless torch warning inside MLflow's input-example check.
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pytorch.log_model(
            model,
            name="model",
            signature=signature,
            input_example=frame,
            serialization_format="pickle",
            code_paths=[str(Path(mbegu.__file__).parent)],
            pip_requirements=[
                f"torch=={torch.__version__.split('+')[0]}",
                f"mlflow=={mlflow.__version__}",
                "pandas",
                "numpy",
            ],
            registered_model_name=tracker.registered_model_name,
        )
    version = getattr(info, "registered_model_version", None)
    if tracker.registered_model_name and version and tracker.model_alias:
        tracker.client.set_registered_model_alias(
            tracker.registered_model_name, tracker.model_alias, str(version)
        )
    return str(version) if version else None
