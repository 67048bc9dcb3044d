"""MLflow runs with a guaranteed end: a run never stays RUNNING after an error or Ctrl-C."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from mbegu.errors import MbeguError, first_line
from mbegu.tracking.store import check_reachable, default_artifact_root, resolve_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mbegu.tracking.logger import MlflowLightningLogger

MAX_PARAM_LENGTH = 6000


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys to strings, as MLflow params (`model.optimizer.lr` -> '0.002')."""
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)[:MAX_PARAM_LENGTH]
    return out


class MlflowTracker:
    """One MLflow experiment in one store; opens and closes runs, logs configs."""

    def __init__(
        self,
        experiment_name: str = "mbegu",
        tracking_uri: str | None = None,
        artifact_root: str | None = None,
        run_name: str | None = None,
        registered_model_name: str | None = None,
        model_alias: str | None = "candidate",
    ) -> None:
        self.experiment_name = experiment_name
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.artifact_root = artifact_root or default_artifact_root(self.tracking_uri)
        self.run_name = run_name
        self.registered_model_name = registered_model_name
        self.model_alias = model_alias
        self._client: MlflowClient | None = None

    def check(self) -> None:
        """Fail in seconds with a one-line error if the store cannot be reached."""
        check_reachable(self.tracking_uri)

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            check_reachable(self.tracking_uri)
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if self.artifact_root:
            location = f"{self.artifact_root.rstrip('/')}/{self.experiment_name}"
        try:
            return self.client.create_experiment(self.experiment_name, artifact_location=location)
        except Exception:  # another worker created it first
            experiment = self.client.get_experiment_by_name(self.experiment_name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def start_run(
        self,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        run_name: str | None = None,
    ) -> str:
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(
            self.experiment_id(), tags=all_tags, run_name=run_name or self.run_name
        )
        return run.info.run_id

    def log_config(self, run_id: str, cfg: DictConfig) -> None:
        """The composed config as params (searchable, comparable) and as config.yaml."""
        from mlflow.entities import Param

        container = OmegaConf.to_container(cfg, resolve=True)
        params = [Param(k, v) for k, v in flatten(container).items()]
        for start in range(0, len(params), 100):
            self.client.log_batch(run_id, params=params[start : start + 100])
        self.client.log_text(run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")

    def log_environment(self, run_id: str, root: Any) -> None:
        """Resolved package versions as an artifact, the lock file's hash and key versions
        as tags: what it takes to rebuild the environment behind a result."""
        from mlflow.entities import RunTag

        from mbegu.tracking.lineage import environment

        requirements, tags = environment(root)
        self.client.log_text(run_id, requirements, "environment/requirements.txt")
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=batch)

    def lightning_logger(self, run_id: str) -> MlflowLightningLogger:
        from mbegu.tracking.logger import MlflowLightningLogger

        return MlflowLightningLogger(self.client, run_id, self.experiment_name)

    @contextmanager
    def run(self, run_id: str, finish_on: tuple[type[BaseException], ...] = ()) -> Iterator[str]:
        """Mark `run_id` RUNNING, then FINISHED, FAILED (error) or KILLED (Ctrl-C, SIGTERM).

        Exceptions in `finish_on` are a planned stop (a pruned trial): FINISHED, with the
        reason in the `mbegu.stopped` tag.
        """
        self.client.update_run(run_id, status="RUNNING")
        try:
            yield run_id
        except finish_on as err:
            self.client.set_tag(run_id, "mbegu.stopped", str(err) or type(err).__name__)
            self.client.set_terminated(run_id, "FINISHED")
            raise
        except (KeyboardInterrupt, SystemExit) as err:
            code = getattr(err, "code", 1)
            self.client.set_terminated(run_id, "FINISHED" if code in (0, None) else "KILLED")
            raise
        except BaseException as err:
            self.client.set_tag(
                run_id,
                "mbegu.error",
                first_line(err),
            )
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED")

    def require_run(self, run_id: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException:
            raise MbeguError(
                f"MLflow run {run_id} not found in {self.tracking_uri}: run `dvc repro train` "
                f"(or check MLFLOW_TRACKING_URI)"
            ) from None
