"""Where runs go: the embedded SQLite store at the project root, or a server.

The store is anchored to absolute paths so that runs started from a subfolder, a DVC stage or
DVC's temporary experiment copies all land in one place.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mbegu.errors import MbeguError, first_line
from mbegu.processes import alive, owner
from mbegu.project import store_root
from mbegu.security import mask_secrets

if TYPE_CHECKING:
    import logging

    from mlflow import MlflowClient

T = TypeVar("T")

DB_NAME = "mlflow.db"
ARTIFACTS_NAME = "mlartifacts"


def offline_defaults() -> None:
    """Offline first: nothing phones home unless the user turned it back on.

    Set when a tracker is made or the CLI starts, not on import.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def resolve_tracking_uri(configured: str | None = None, root: Path | None = None) -> str:
    """The config's URI, else $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(root or store_root()) / DB_NAME}"


def default_artifact_root(tracking_uri: str, root: Path | None = None) -> str | None:
    """Local stores keep artifacts beside the database; a server decides for itself."""
    if tracking_uri.startswith("sqlite:///"):
        return (
            Path(tracking_uri.removeprefix("sqlite:///")).parent.joinpath(ARTIFACTS_NAME).as_uri()
        )
    return None


def _writable(folder: Path) -> bool:
    """A real write, not os.access: root passes os.access even on a read-only filesystem."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def check_reachable(
    tracking_uri: str, artifact_root: str | None = None, timeout: float = 3.0
) -> None:
    """Fail in seconds, before any training, when the store cannot be used.

    MLflow's own client retries an unreachable server for minutes.
    """
    shown = mask_secrets(tracking_uri)
    if artifact_root and artifact_root.startswith("file:"):
        from urllib.parse import unquote, urlparse

        folder = Path(unquote(urlparse(artifact_root).path))
        existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if existing is None or not _writable(existing):
            raise MbeguError(
                f"MLflow artifact store {folder} is not writable: fix its permissions or point "
                f"tracking.artifact_root elsewhere"
            )
    if tracking_uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=timeout):
                return
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise MbeguError(
                f"MLflow tracking server {shown} is unreachable ({reason}): start it, fix "
                f"MLFLOW_TRACKING_URI / tracking.tracking_uri, or unset them for the local store"
            ) from None
    elif tracking_uri.startswith("sqlite:///"):
        from mbegu.tracking.health import check_sqlite_store

        database = Path(tracking_uri.removeprefix("sqlite:///"))
        folder = database.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise MbeguError(
                f"MLflow store folder {folder} does not exist or is not writable: create it or "
                f"point tracking.tracking_uri elsewhere"
            )
        check_sqlite_store(database)
    elif tracking_uri.startswith(("file:", "./", "/")) or "://" not in tracking_uri:
        raise MbeguError(
            f"tracking URI {shown!r} is a file store, which MLflow 3 refuses: use "
            f"sqlite:///path/to/mlflow.db or an http(s) server"
        )


def _locked(err: BaseException | None) -> bool:
    return "database is locked" in str(err) or "database table is locked" in str(err)


class StoreLocked(MbeguError):
    """The SQLite store stayed locked past tracking.store_retry_seconds."""


def with_retry(call: Callable[[], T], seconds: float, what: str) -> T:
    """Run a store call, retrying with backoff while SQLite reports the database locked.

    Another process holding mlflow.db (a backup, a second UI, a long query) must not crash a
    training run; after `seconds` the error is one line. Each attempt itself waits up to
    MLflow's SQLite busy_timeout (20 s), so the message gives the time really waited.
    """
    start = time.monotonic()
    deadline, pause = start + seconds, 0.1
    while True:
        try:
            return call()
        except Exception as err:
            if not _locked(err):
                raise
            if time.monotonic() + pause > deadline:
                raise StoreLocked(
                    f"the MLflow store stayed locked for {time.monotonic() - start:.0f} s "
                    f"({what}: {first_line(err, 120)}): close the program holding mlflow.db "
                    f"and rerun; the run's status is set by the next mbegu command"
                ) from None
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


class RetryingClient:
    """An MlflowClient whose every call goes through with_retry.

    MLflow itself does not retry SQLite's "database is locked". Once the store has stayed locked,
    every later call fails at once until `reset()` (MlflowTracker calls it at each run's start and
    end): the logger's last flush and the run's end would each wait out MLflow's 20 s busy_timeout
    again before the command could exit, while a sweep's next trial deserves a fresh wait.
    """

    def __init__(self, client: MlflowClient, seconds: float) -> None:
        self._client, self._seconds = client, seconds
        self._gave_up: StoreLocked | None = None

    def reset(self) -> None:
        """Wait for a locked store again: the next call retries instead of failing at once."""
        self._gave_up = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._gave_up is not None:
                raise StoreLocked(str(self._gave_up))  # the one message the user sees
            try:
                return with_retry(lambda: attr(*args, **kwargs), self._seconds, name)
            except StoreLocked as err:
                self._gave_up = err
                raise

        return call


class _QuietLocks:
    """Drop MLflow's logged traceback of a lock that with_retry waits out.

    MLflow waits 20 s on a lock (busy_timeout), then logs the error with its traceback before
    raising it; a lock that with_retry waits out is not worth 40 lines.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _locked(record.exc_info[1]))


def retrying(client: MlflowClient, seconds: float) -> RetryingClient:
    """`client` retried on a locked SQLite store for `seconds`, MLflow's lock tracebacks quieted."""
    import logging

    db_logger = logging.getLogger("mlflow.store.db.utils")
    if not any(isinstance(f, _QuietLocks) for f in db_logger.filters):
        db_logger.addFilter(_QuietLocks())
    return RetryingClient(client, seconds)


TAG_HOST, TAG_PID, TAG_PID_START = "mbegu.host", "mbegu.pid", "mbegu.pid_start"


def owner_tags() -> dict[str, str]:
    """Which process owns a run: a later command can tell that it died and close the run."""
    host, pid, started = owner()
    return {TAG_HOST: host, TAG_PID: str(pid), TAG_PID_START: f"{started:.2f}"}


def close_dead_runs(client: MlflowClient | RetryingClient) -> list[str]:
    """Mark KILLED the RUNNING runs whose owning process on this machine is gone.

    A SIGKILL, an OOM kill or a power cut gives a process no chance to close its run; the
    next mbegu command on the same store does it, with the reason in `mbegu.error`.
    """
    host, _, _ = owner()
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    running = client.search_runs(
        experiments,
        filter_string=f"attributes.status = 'RUNNING' and tags.`{TAG_HOST}` = '{host}'",
        max_results=1000,
    )
    closed = []
    for run in running:
        tags = run.data.tags
        try:
            pid = int(tags.get(TAG_PID, "-1"))
            started = float(tags[TAG_PID_START]) if TAG_PID_START in tags else None
        except ValueError:
            pid, started = -1, None
        if pid > 0 and alive(pid, started):
            continue
        if "mbegu.error" in tags:  # it failed, but could not say so (e.g. a locked store)
            client.set_terminated(run.info.run_id, "FAILED")
        else:
            reason = f"its process (pid {pid} on {host}) died; closed by a later mbegu command"
            client.set_tag(run.info.run_id, "mbegu.error", reason)
            client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed
