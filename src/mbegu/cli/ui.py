"""`mbegu ui`: the MLflow UI on 127.0.0.1 against this project's store."""

from __future__ import annotations

import os
import subprocess
import sys

from mbegu.tracking.store import default_artifact_root, resolve_tracking_uri


def serve(host: str = "127.0.0.1", port: int = 5000, workers: int = 1) -> int:
    """Run `mlflow server` in the foreground until Ctrl-C.

    One worker answers in about half the time of the default four; job execution off, so a
    quick stop leaves no stray worker processes.
    """
    uri = resolve_tracking_uri()
    if uri.startswith(("http://", "https://")):
        print(f"MLFLOW_TRACKING_URI points to a server: open {uri} in a browser")
        return 0
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
    artifacts = default_artifact_root(uri)
    if artifacts:
        command += ["--default-artifact-root", artifacts]
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    print(f"MLflow UI on http://{host}:{port} (store {uri}); Ctrl-C stops it", flush=True)
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=15)
        return 0
