"""Evaluation: test metrics, confusion matrix and the logged MLflow Model."""
