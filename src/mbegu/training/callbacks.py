"""Callbacks mbegu adds to every run: per-epoch history and line-based progress."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only


class EpochReport(pl.Callback):
    """Keeps one row of metrics per epoch; prints it as a line when there is no progress bar."""

    def __init__(self, print_lines: bool) -> None:
        self.print_lines = print_lines
        self.rows: list[dict[str, float]] = []
        self.seconds: list[float] = []  # wall time of each epoch, validation included
        self._started = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith(("train/", "val/")) and v.numel() == 1
        }
        row: dict[str, Any] = {"epoch": trainer.current_epoch, **dict(sorted(metrics.items()))}
        self.rows.append(row)
        self.seconds.append(time.perf_counter() - self._started)
        if self.print_lines:
            self._print(trainer, row, self.seconds[-1])

    @rank_zero_only
    def _print(self, trainer: pl.Trainer, row: dict[str, Any], seconds: float) -> None:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch")
        print(
            f"epoch {row['epoch'] + 1}/{trainer.max_epochs}  {shown}  ({seconds:.2f}s)", flush=True
        )
