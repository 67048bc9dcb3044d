"""`mbegu ui` and `mbegu server`: MLflow's server on this project's store, or a team's.

`mbegu ui` browses the configured store on 127.0.0.1. `mbegu server` is the team's tracking
server: a database backend (PostgreSQL) and proxied artifacts (`--artifacts-destination`), so
clients need only its URL, never the database's or the artifact store's credentials.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from types import FrameType

from mbegu.errors import MbeguError
from mbegu.security import mask_secrets
from mbegu.tracking.store import default_artifact_root


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # As a server binds: a port left in TIME_WAIT by the last `mbegu ui` is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# MLflow 3's UI opens experiments on its GenAI overview unless told otherwise; this query
# parameter (remembered by the browser afterwards) opens the training runs list instead.
TRAINING_VIEW = "workflowType=machine_learning"


def serve(
    uri: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    experiment_name: str | None = None,
    artifacts_destination: str | None = None,
) -> int:
    """Run `mlflow server` in the foreground until Ctrl-C or SIGTERM, then stop it and its
    workers (it runs in a process group of its own, which is stopped whole).

    One worker answers in about half the time of the default four; job execution off, so a
    quick stop leaves no stray worker processes.
    """
    if uri.startswith(("http://", "https://")):
        if artifacts_destination:
            raise MbeguError(
                f"--backend-store-uri {mask_secrets(uri)} is a server, not a database: give "
                f"postgresql://user@host/db (or a sqlite:/// file)"
            )
        print(f"the tracking URI points to a server: open {mask_secrets(uri)} in a browser")
        return 0
    if not _port_free(host, port):
        raise MbeguError(
            f"port {port} on {host} is in use (another `mbegu ui`?): stop it, or pass --port"
        )
    from mlflow import MlflowClient

    from mbegu.tracking.store import close_dead_runs, retrying

    client = retrying(MlflowClient(uri), 10)
    close_dead_runs(client)
    experiment = client.get_experiment_by_name(experiment_name) if experiment_name else None
    page = f"#/experiments/{experiment.experiment_id}" if experiment else "#/experiments"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if artifacts_destination:  # proxied: runs store mlflow-artifacts:/ URIs, the server writes
        command += ["--serve-artifacts", "--artifacts-destination", artifacts_destination]
    elif artifacts := default_artifact_root(uri):
        command += ["--default-artifact-root", artifacts]
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    process = subprocess.Popen(command, env=env, start_new_session=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    shown = mask_secrets(uri)
    print(
        f"MLflow {'server' if artifacts_destination else 'UI'} on http://{host}:{port}/{page}?"
        f"{TRAINING_VIEW} (store {shown}); Ctrl-C stops it",
        flush=True,
    )
    try:
        return process.wait()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the stop
        _stop_group(process)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's whole process group (gunicorn/uvicorn workers included),
    SIGKILL to whatever is still there after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):  # workers may outlive the leader
            os.killpg(process.pid, signal.SIGKILL)
        return
