"""A small Lightning logger over MlflowClient: per-epoch metrics, written in batches.

Lightning's own MLFlowLogger creates its run itself and defaults to the file store, which
MLflow 3 refuses; this one logs into a run that mbegu opened, with epoch as the step. Each
write to the store costs milliseconds of SQLAlchemy work, more than an epoch of the example,
so metrics are buffered and written at most every `flush_seconds` (and at the end).
"""

from __future__ import annotations

import time
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities import rank_zero_only


class MlflowLightningLogger(Logger):
    def __init__(
        self, client: Any, run_id: str, experiment_name: str, flush_seconds: float = 2.0
    ) -> None:
        super().__init__()
        self._client, self._run_id, self._name = client, run_id, experiment_name
        self.flush_seconds = flush_seconds
        self._buffer: list[Any] = []
        self._last_flush = time.monotonic()

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
        self._buffer += [Metric(k, float(v), now, step) for k, v in metrics.items()]
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        for start in range(0, len(self._buffer), 1000):
            self._client.log_batch(self._run_id, metrics=self._buffer[start : start + 1000])
        self._buffer.clear()
        self._last_flush = time.monotonic()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Write what is buffered; the run's status is set by MlflowTracker.run()."""
        from mbegu.errors import MbeguError

        try:
            self.flush()
        except MbeguError:
            if status == "success":
                raise
            self._buffer.clear()  # training already failed: report that, not a second error
