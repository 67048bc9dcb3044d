"""MLflow runs with a guaranteed end: a run never stays RUNNING after an error or Ctrl-C."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Literal, cast

from mbegu.errors import MbeguError, first_line
from mbegu.security import mask_secrets
from mbegu.tracking.run_logging import RunLogging
from mbegu.tracking.store import (
    RetryingClient,
    check_reachable,
    close_dead_runs,
    default_artifact_root,
    offline_defaults,
    owner_tags,
    resolve_tracking_uri,
    retrying,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

RunEnd = Literal["FINISHED", "FAILED", "KILLED"]  # the statuses a run ends with


def _carry_run_id(err: BaseException, run_id: str) -> None:
    """The run's id on the exception leaving it, as `mbegu_run_id`."""
    # An exception class with a custom __setattr__ (or a frozen one) refuses it: no id then.
    with suppress(AttributeError, TypeError):
        err.mbegu_run_id = run_id  # type: ignore[attr-defined]  # ad hoc, read with getattr


class MlflowTracker(RunLogging):
    """One MLflow experiment in one store; opens and closes runs, logs configs.

    Built from cfg.tracking; each argument is the option of the same name in conf/tracking/.

    Args:
        experiment_name: The MLflow experiment the runs go to (created when missing).
        tracking_uri: The store; None: $MLFLOW_TRACKING_URI, else the project's SQLite store.
        artifact_root: Where new experiments keep artifacts; None: mlartifacts/ or the server's.
        run_name: The runs' name; None: the DVC experiment's, else model, data and start time.
        registered_model_name: The registered model `evaluate` adds versions to; None: none.
        model_alias: The alias `evaluate` points at a new version that passes `promote_if`.
        promote_if: The test metric and bar a version must beat to get the alias; None: always.
        store_retry_seconds: How long a locked SQLite store is retried before one line and exit 2.
        system_metrics: Log CPU, memory, disk and network usage to the run while it trains.
        system_metrics_interval: The seconds between two samples of those system metrics.
    """

    def __init__(
        self,
        experiment_name: str = "mbegu",
        tracking_uri: str | None = None,
        artifact_root: str | None = None,
        run_name: str | None = None,
        registered_model_name: str | None = None,
        model_alias: str | None = "candidate",
        promote_if: Mapping[str, Any] | None = None,
        store_retry_seconds: float = 60.0,
        system_metrics: bool = False,
        system_metrics_interval: float = 10.0,
    ) -> None:
        offline_defaults()
        self.experiment_name = experiment_name
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.artifact_root = artifact_root or default_artifact_root(self.tracking_uri)
        self.run_name = run_name
        self.registered_model_name = registered_model_name
        self.model_alias = model_alias
        self.promote_if = dict(promote_if or {})
        self.store_retry_seconds = store_retry_seconds
        self.system_metrics = system_metrics
        self.system_metrics_interval = system_metrics_interval
        self._client: RetryingClient | None = None  # an MlflowClient to its callers
        self._experiment_id: str | None = None
        self._created: set[str] = set()  # runs start_run made: already RUNNING and owned

    def check(self) -> None:
        """Fail in seconds with a one-line error if the store cannot be reached or written.

        Raises:
            MbeguError: The tracking server does not answer, or the store or artifact folder cannot
                be written.
        """
        check_reachable(self.tracking_uri, self.artifact_root)

    @property
    def client(self) -> MlflowClient:
        """The store's client: retries a locked SQLite store, and on first use closes dead runs.

        The runs it closes are those left RUNNING by processes that died on this machine.
        """
        if self._client is None:
            check_reachable(self.tracking_uri, self.artifact_root)
            from mlflow import MlflowClient

            client = retrying(MlflowClient(self.tracking_uri), self.store_retry_seconds)
            close_dead_runs(client)
            self._client = client
        # RetryingClient forwards every MlflowClient call (its __getattr__).
        return cast("MlflowClient", self._client)

    def experiment_id(self) -> str:
        """The experiment's id; the experiment is created on first use if the store lacks it.

        Returns:
            The id of the experiment named `experiment_name`.
        """
        if self._experiment_id is None:
            self._experiment_id = self._find_or_create_experiment()
        return self._experiment_id

    def _find_or_create_experiment(self) -> str:
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        location = None
        if self.artifact_root:
            location = f"{self.artifact_root.rstrip('/')}/{self.experiment_name}"
        try:
            # "custom model development": the UI opens on training runs, not the GenAI overview.
            return self.client.create_experiment(
                self.experiment_name,
                artifact_location=location,
                tags={"mlflow.experimentKind": "custom_model_development"},
            )
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
        """Create a RUNNING run owned by this process; run() then ends it.

        Args:
            tags: Tags to create the run with (the owner's tags are added).
            parent_run_id: A sweep's parent run to nest the run under; None: a top-level run.
            run_name: The run's name; None: the tracker's `run_name`, else MLflow's own.

        Returns:
            The new run's id.
        """
        self._fresh_wait()
        all_tags = {**dict(tags or {}), **owner_tags()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        name = run_name or self.run_name
        run = self.client.create_run(
            self.experiment_id(), tags=all_tags, run_name=mask_secrets(name) if name else None
        )
        self._created.add(run.info.run_id)
        return run.info.run_id

    @contextmanager
    def run(self, run_id: str, finish_on: tuple[type[BaseException], ...] = ()) -> Iterator[str]:
        """Mark `run_id` RUNNING, then FINISHED, FAILED (error) or KILLED (Ctrl-C, SIGTERM).

        Exceptions in `finish_on` are a planned stop (a pruned trial): FINISHED, with the
        reason in the `mbegu.stopped` tag. Those and errors leave with the run's id as
        `mbegu_run_id`: a sweep tags the trial's run without searching the store for it.

        Args:
            run_id: The run: one start_run made, or an existing one this process takes over.
            finish_on: Exception types that end the run FINISHED instead of FAILED.

        Yields:
            The run's id.
        """
        from mlflow.entities import RunTag

        if run_id in self._created:  # start_run made it RUNNING and owned by this process
            self._created.discard(run_id)
        else:
            tags = [RunTag(k, v) for k, v in owner_tags().items()]
            self.client.log_batch(run_id, tags=tags)  # this process owns the run now
            self.client.update_run(run_id, status="RUNNING")
        try:
            yield run_id
        except finish_on as err:
            _carry_run_id(err, run_id)
            self._end(run_id, "FINISHED", {"mbegu.stopped": str(err) or type(err).__name__})
            raise
        except (KeyboardInterrupt, SystemExit) as err:
            code = getattr(err, "code", 1)
            self._end(run_id, "FINISHED" if code in (0, None) else "KILLED")
            raise
        except BaseException as err:
            _carry_run_id(err, run_id)
            self._end(run_id, "FAILED", {"mbegu.error": mask_secrets(first_line(err))})
            raise
        else:
            self._end(run_id, "FINISHED")
        finally:
            self._fresh_wait()  # a store given up on inside this run gets a new wait after it

    def _fresh_wait(self) -> None:
        if self._client is not None:
            self._client.reset()

    def _end(self, run_id: str, status: RunEnd, tags: dict[str, str] | None = None) -> None:
        """The run's last word, which a signal must not cut off.

        set_terminated first waits for MLflow's asynchronous queue, long enough for a SIGTERM to
        land there.
        """
        from mlflow.entities import RunTag

        from mbegu.processes import signals_deferred

        with signals_deferred():
            try:
                if tags:
                    self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            finally:  # a full store may refuse the new tag row but still take the status
                self.client.set_terminated(run_id, status)

    def require_run(self, run_id: str) -> None:
        """Check that the store holds `run_id` before continuing it.

        Args:
            run_id: The MLflow run to look up.

        Raises:
            MbeguError: The store has no such run.
        """
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_run(run_id)
        except MlflowException:
            raise MbeguError(
                f"MLflow run {run_id} not found in {mask_secrets(self.tracking_uri)}: run "
                f"`dvc repro train` (or check MLFLOW_TRACKING_URI)"
            ) from None
