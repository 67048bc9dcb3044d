"""Reporting the objective to Optuna each epoch and stopping pruned trials.

optuna-integration's callback imports the `lightning` package; mbegu trains with
`pytorch_lightning`, so it carries this small one.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl


class OptunaPruning(pl.Callback):
    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import optuna

        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(trainer.callback_metrics[self.monitor]), step=epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")
