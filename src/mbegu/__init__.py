"""mbegu: an experiment-tracked MLOps template (Hydra, Lightning, MLflow, DVC, Optuna)."""

__version__ = "0.1.0"
