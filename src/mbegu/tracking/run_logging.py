"""What a run logs besides its metrics' curves: the config, the environment, the dataset.

A mixin of tracking.tracker.MlflowTracker, which owns the store and the runs' lifecycle.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from mbegu.security import mask_secrets, mask_tree

if TYPE_CHECKING:
    from mlflow import MlflowClient

MAX_PARAM_LENGTH = 6000


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys to strings, as MLflow params (`model.optimizer.lr` -> '0.002').

    Args:
        config: A nested config, as plain dicts.
        prefix: What each key starts with (the parent's dotted key and a dot).

    Returns:
        Each leaf's dotted key and its value as text, secrets masked, cut to MLflow's limit.
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = mask_secrets(str(value))[:MAX_PARAM_LENGTH]
    return out


class RunLogging:
    """Logging into runs of the tracker's store, through its retrying client."""

    @property
    def client(self) -> MlflowClient:
        """The store's client; MlflowTracker provides it."""
        raise NotImplementedError

    def log_config(
        self, run_id: str, cfg: DictConfig, as_params: bool = True, as_file: bool = True
    ) -> None:
        """The composed config, secrets masked, as params (searchable, comparable) and config.yaml.

        A sweep trial logs only the params (its parent run holds the study's config.yaml); the
        parent only the file.

        Args:
            run_id: The run to log to.
            cfg: The composed config.
            as_params: Log it as params, one per dotted key.
            as_file: Log it as the artifact config.yaml.
        """
        from mlflow.entities import Param

        container = mask_tree(OmegaConf.to_container(cfg, resolve=True))
        if as_params:
            params = [Param(k, v) for k, v in flatten(container).items()]
            for start in range(0, len(params), 100):
                self.client.log_batch(run_id, params=params[start : start + 100])
        if as_file:
            self.client.log_text(run_id, OmegaConf.to_yaml(container), "config.yaml")

    def log_requirements(self, run_id: str) -> None:
        """Resolved package versions as an artifact: what rebuilding a result's environment takes.

        The lock file's md5 and key versions are tags the run is created with (lineage's
        environment_tags).

        Args:
            run_id: The run to log environment/requirements.txt to.
        """
        from mbegu.tracking.lineage import requirements_text

        self.client.log_text(run_id, requirements_text(), "environment/requirements.txt")

    def log_dataset(self, run_id: str, name: str, digest: str, source: str, rows: int) -> None:
        """The data as an MLflow dataset input: the UI's Dataset column shows its version.

        Args:
            run_id: The run that trained on the data.
            name: The data's name (data.name).
            digest: The md5 of the data's files (FileData.digest), its version.
            source: The files' paths in the project, comma-separated.
            rows: The number of rows in the files.
        """
        import json

        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(
            name=name,
            digest=digest.removesuffix(".dir")[:36],
            source_type="dvc",
            source=json.dumps({"path": source, "dvc_md5": digest}),
            profile=json.dumps({"num_rows": rows}),
        )
        context = InputTag("mlflow.data.context", "training")
        self.client.log_inputs(run_id, datasets=[DatasetInput(dataset, [context])])

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int = 0,
        model_id: str | None = None,
    ) -> None:
        """Log metrics at one step, in one batch, optionally tied to a logged model.

        Args:
            run_id: The run to log to.
            metrics: Each metric's name and value.
            step: The step the values belong to.
            model_id: The MLflow logged model the values describe; None: the run only.
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step, model_id=model_id) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch)
