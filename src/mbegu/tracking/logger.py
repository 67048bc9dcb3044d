"""Lightning loggers: the `logger` config group (mlflow, dvclive, both, none) built for a run.

The MLflow one is Lightning's MLFlowLogger, writing into the run mbegu opened (train() owns
that run: one per pipeline, ended KILLED/FAILED/FINISHED by MlflowTracker.run).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only

if TYPE_CHECKING:
    from argparse import Namespace

    from lightning.pytorch.loggers import Logger
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from mbegu.tracking.tracker import MlflowTracker


class MlflowEpochLogger(MLFlowLogger):
    """Lightning's MLFlowLogger into the run train() opened, with epoch as the step.

    What it overrides works around limits of the library:

    - writes: MLflow's asynchronous queue (synchronous=False) drops a write that fails, such
      as one to a locked SQLite store, with a log line, and training ends "successfully"
      without its metrics; synchronous writes cost milliseconds an epoch. So epochs are
      buffered and written every `flush_seconds` through the tracker's client, which retries
      a locked store (tracking.store_retry_seconds) and then fails in one line.
    - log_hyperparams: it would log the module's hparams beside the full config train() logs.
    - finalize: it would end the run, which `evaluate` still completes and which must end
      KILLED on Ctrl-C (MlflowTracker.run sets the status).
    """

    def __init__(
        self,
        *args: Any,
        client: MlflowClient | None = None,
        flush_seconds: float = 2.0,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._client, self.flush_seconds = client, flush_seconds
        self._buffer: list[Metric] = []
        self._last_flush = time.monotonic()

    @property
    def experiment(self) -> MlflowClient:
        """The tracker's retrying client, else the one Lightning's logger makes."""
        return self._client if self._client is not None else super().experiment

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """The whole composed config is logged by train()."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Buffer an epoch's metrics, with the epoch as their step; flush every `flush_seconds`."""
        from mlflow.entities import Metric

        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        step = int(epoch) if epoch is not None else int(step or 0)
        now = int(time.time() * 1000)
        self._buffer += [Metric(k, float(v), now, step) for k, v in metrics.items()]
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write the buffered metrics to the run through the retrying client."""
        for start in range(0, len(self._buffer), 1000):
            run_id = cast(str, self.run_id)  # Optional to Lightning; build_loggers gives it
            self.experiment.log_batch(run_id, metrics=self._buffer[start : start + 1000])
        self._buffer.clear()
        self._last_flush = time.monotonic()

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Write what is buffered; after a failure, a second error would only hide the first."""
        from mbegu.errors import MbeguError

        try:
            self.flush()
        except MbeguError:
            if status == "success":
                raise
            self._buffer.clear()


def build_loggers(
    logger_cfg: Mapping[str, Any] | None, tracker: MlflowTracker, run_id: str, root: Path
) -> list[Logger]:
    """The configured loggers for `run_id`; null entries are off.

    MLflow ones get the run and the tracker's store; a `dir` must stay inside the project.
    """
    from mbegu.security import inside, instantiate

    built = []
    for name, spec in (logger_cfg or {}).items():
        if spec is None:
            continue
        extra: dict[str, Any] = {}
        if str(spec.get("_target_", "")).endswith("MlflowEpochLogger"):
            extra = {
                "run_id": run_id,
                "tracking_uri": tracker.tracking_uri,
                "experiment_name": tracker.experiment_name,
                "client": tracker.client,
            }
        if spec.get("dir") is not None:
            extra["dir"] = str(inside(root, spec.dir, f"logger.{name}.dir"))
        built.append(instantiate(spec, where=f"logger.{name}", **extra))
    return built
