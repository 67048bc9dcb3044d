"""A small Lightning logger over MlflowClient: per-epoch metrics, written asynchronously.

Lightning's own MLFlowLogger creates its run itself and defaults to the file store, which
MLflow 3 refuses; this one logs into a run that mbegu opened, with epoch as the step.
"""

from __future__ import annotations

import time
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only


class MlflowLightningLogger(Logger):
    def __init__(self, client: Any, run_id: str, experiment_name: str) -> None:
        super().__init__()
        self._client, self._run_id, self._name = client, run_id, experiment_name
        self._pending: list[Any] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> str:
        return self._run_id

    @property
    def experiment(self) -> Any:
        return self._client

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The whole composed config is logged by train(); the module's hparams add nothing."""

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        epoch = metrics.pop("epoch", None)
        step = int(epoch) if epoch is not None else int(step or 0)
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        if batch:
            self._pending.append(
                self._client.log_batch(self._run_id, metrics=batch, synchronous=False)
            )

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Wait for queued writes; the run's status is set by MlflowTracker.run()."""
        for operation in self._pending:
            if operation is not None:
                operation.wait()
        self._pending.clear()
