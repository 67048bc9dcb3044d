"""Sweeps: Optuna studies over the same train(cfg), with pruning, resume and parallel workers."""
