"""Where runs go: the embedded SQLite store at the project root, or a server.

The store is anchored to absolute paths so that runs started from a subfolder, a DVC stage or
DVC's temporary experiment copies all land in one place.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from mbegu.errors import MbeguError
from mbegu.project import store_root

DB_NAME = "mlflow.db"
ARTIFACTS_NAME = "mlartifacts"


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


def check_reachable(tracking_uri: str, timeout: float = 3.0) -> None:
    """Fail in seconds, before any training, when the store cannot be used.

    MLflow's own client retries an unreachable server for minutes.
    """
    if tracking_uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{tracking_uri.rstrip('/')}/health", timeout=timeout):
                return
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise MbeguError(
                f"MLflow tracking server {tracking_uri} is unreachable ({reason}): start it, fix "
                f"MLFLOW_TRACKING_URI / tracking.tracking_uri, or unset them for the local store"
            ) from None
    elif tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise MbeguError(
                f"MLflow store folder {folder} does not exist or is not writable: create it or "
                f"point tracking.tracking_uri elsewhere"
            )
    elif tracking_uri.startswith(("file:", "./", "/")) or "://" not in tracking_uri:
        raise MbeguError(
            f"tracking URI {tracking_uri!r} is a file store, which MLflow 3 refuses: use "
            f"sqlite:///path/to/mlflow.db or an http(s) server"
        )
