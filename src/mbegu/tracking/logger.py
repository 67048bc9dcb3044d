"""Lightning loggers: the `logger` config group (mlflow, dvclive, both, none) built for a run.

The MLflow one is Lightning's MLFlowLogger, writing asynchronously into the run mbegu opened
(train() owns that run: one per pipeline, ended KILLED/FAILED/FINISHED by MlflowTracker.run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.utilities import rank_zero_only


class MlflowEpochLogger(MLFlowLogger):
    """MLFlowLogger with epoch as the step. Its other overrides work around two limits: it
    would log the module's hparams beside the full config train() logs, and its finalize()
    ends the run, which `evaluate` still has to complete and which must end KILLED on Ctrl-C."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # MLflow's queue otherwise polls with a 1 s timeout, which every flush (ours, and the
        # one in set_terminated) waits out; buffered, a flush returns at once and each write
        # to the store carries a few epochs.
        os.environ.setdefault("MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS", "2")

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The whole composed config is logged by train()."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = dict(metrics)
        epoch = metrics.pop("epoch", None)
        super().log_metrics(metrics, step=int(epoch) if epoch is not None else step)

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        """Wait for the asynchronous writes; the run's status is MlflowTracker.run()'s."""
        import mlflow

        from mbegu.processes import signals_deferred

        with signals_deferred():
            mlflow.flush_async_logging()


def build_loggers(
    logger_cfg: Mapping[str, Any] | None, tracker: Any, run_id: str, root: Path
) -> list[Any]:
    """The configured loggers for `run_id`; null entries are off. MLflow ones get the run
    and the tracker's store; a `dir` must stay inside the project."""
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
            }
        if spec.get("dir") is not None:
            extra["dir"] = str(inside(root, spec.dir, f"logger.{name}.dir"))
        built.append(instantiate(spec, where=f"logger.{name}", **extra))
    return built
