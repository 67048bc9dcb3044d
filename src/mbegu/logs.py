"""What the libraries may print: mbegu's own lines, the warnings a user can act on and errors.

Not the INFO lines and notices of MLflow, Lightning or uvicorn.

`mbegu -v ...` or MBEGU_LOG_LEVEL=INFO (or DEBUG) brings them back. The level travels in the
environment, so the processes a command starts (sweep workers, the UI's server) follow it.
"""

from __future__ import annotations

import logging
import os
import warnings

LEVEL_ENV = "MBEGU_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Warnings no user can act on: MLflow writes a conda.yaml next to every model and asks pip
# for its version, which a uv-made venv (no pip) lacks; Lightning warns that a small data set
# has fewer batches per epoch than its logging interval, which mbegu's per-epoch logs ignore.
UNACTIONABLE = (("mlflow.utils.environment", "Failed to resolve installed pip version"),)


def level() -> str:
    """The level asked for: MBEGU_LOG_LEVEL, else WARNING (quiet)."""
    asked = os.environ.get(LEVEL_ENV, "").strip().upper()
    return asked if asked in LEVELS else "WARNING"


def verbose() -> bool:
    """Whether library INFO lines and notices are wanted."""
    return level() in ("DEBUG", "INFO")


def set_verbose() -> None:
    """`-v`: INFO for this command and the processes it starts."""
    os.environ[LEVEL_ENV] = "INFO"


class _Drop(logging.Filter):
    """Drops the records whose message holds `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def quiet_libraries() -> None:
    """Before MLflow is imported: set its level and filter out the unactionable warnings.

    Its level comes from MBEGU_LOG_LEVEL (MLflow reads MLFLOW_LOGGING_LEVEL once, at import).
    """
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level())
    if verbose():
        return
    for name, text in UNACTIONABLE:
        logging.getLogger(name).addFilter(_Drop(text))
    # Lightning's comes through warnings.warn (rank_zero_warn), not a logger.
    warnings.filterwarnings("ignore", ".*is smaller than the logging interval.*")


def quiet_lightning() -> None:
    """Keep a fit's console to what matters: mbegu's epoch lines, warnings and errors.

    Lightning's INFO lines come back with `-v` or MBEGU_LOG_LEVEL. Lightning is imported first: its
    import sets its loggers to INFO.
    """
    import lightning.pytorch  # noqa: F401

    quiet_libraries()
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(level())
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    # Epoch metrics come from torchmetrics, whose compute() already reduces across processes.
    warnings.filterwarnings("ignore", ".*sync_dist=True.*")
