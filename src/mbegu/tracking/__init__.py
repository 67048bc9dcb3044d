"""Tracking: the MLflow store, runs and their lineage tags, and the Lightning loggers."""
