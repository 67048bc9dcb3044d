"""Tracking: the MLflow store, runs and their lineage tags, and the Lightning logger."""

import os

# Offline first: nothing phones home unless the user turns it back on.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
