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
import threading
from types import FrameType

from mbegu.errors import MbeguError
from mbegu.logs import verbose
from mbegu.security import mask_secrets
from mbegu.summary import experiment_link
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


# What MLflow's server prints that nobody browsing their own runs can act on: notices it
# echoes unconditionally (click.echo, not a logger, so no level hides them).
NOTICES = (
    "Registry store URI not provided",
    "[MLflow] Security middleware enabled with default settings",
)
# A deprecation inside MLflow's own server code (starlette.middleware.wsgi).
STARLETTE_WARNING = "ignore:starlette.middleware.wsgi is deprecated"


def serve(
    uri: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    experiment_name: str | None = None,
    artifacts_destination: str | None = None,
) -> int:
    """Run `mlflow server` in the foreground until Ctrl-C or SIGTERM, then stop it and its workers.

    It runs in a process group of its own, which is stopped whole. One worker answers in about half
    the time of the default four; job execution off, so a quick stop leaves no stray worker
    processes.

    Args:
        uri: The backend store; for a tracking server's URL, only where to open it is printed.
        host: The address to listen on.
        port: The port to listen on.
        workers: The server's worker processes.
        experiment_name: The experiment whose page the printed link opens.
        artifacts_destination: Where a server keeps artifacts it is sent (`mbegu server`).

    Returns:
        The exit code: 0 after Ctrl-C or SIGTERM (or for a server's URL), else the server's.

    Raises:
        MbeguError: The port is in use, or a server's URL is given an artifacts destination.
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
    base = f"http://{host}:{port}"
    page = f"{base}/#/experiments"
    if experiment:
        page = experiment_link(base, experiment.experiment_id)
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
    quiet = not verbose()
    if quiet:  # no line per request, no uvicorn start-up lines: warnings and errors only
        command += ["--uvicorn-opts", "--no-access-log --log-level warning"]
        warned = [env["PYTHONWARNINGS"]] if env.get("PYTHONWARNINGS") else []
        env["PYTHONWARNINGS"] = ",".join([*warned, STARLETTE_WARNING])
    # A team's server keeps MLflow's security notice: it says how to allow other hosts.
    dropped = () if not quiet else NOTICES[:1] if artifacts_destination else NOTICES
    process = subprocess.Popen(
        command,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE if dropped else None,
        stderr=subprocess.STDOUT if dropped else None,
        text=True,
    )
    if dropped:
        threading.Thread(target=_forward, args=(process, dropped), daemon=True).start()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    shown = mask_secrets(uri)
    print(
        f"MLflow {'server' if artifacts_destination else 'UI'} on {page} (store {shown}); "
        f"Ctrl-C stops it",
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


def _forward(process: subprocess.Popen[str], dropped: tuple[str, ...]) -> None:
    """The server's output to this terminal, less the lines that start with `dropped`."""
    assert process.stdout is not None  # piped by the caller
    for line in process.stdout:
        if not line.lstrip().startswith(dropped):
            sys.stdout.write(line)
            sys.stdout.flush()


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the server's whole process group (gunicorn/uvicorn workers included).

    SIGKILL to whatever is still there after 15 s.
    """
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
