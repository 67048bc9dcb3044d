"""A lower bound for the train stage's epoch, with the libraries mbegu is built on: the bare
Lightning loop (bare_lightning.py) plus only what a tracked, resumable epoch cannot do without,
each the cheapest way Lightning offers it:
- the epoch's five values (`train/loss`, `train/acc`, `val/loss`, `val/acc`, `val/acc_best`)
  summed in place per step (no torchmetrics) and handed to `self.log` once each per epoch,
  which is how Lightning's checkpoint, early stopping and loggers get them;
- ModelCheckpoint saving the best epoch (`last.ckpt` a link to it) and EarlyStopping.
No logger, no store, no config or RNG state in the checkpoint: less than the train stage does.

Usage: python benchmarks/floor_lightning.py [params.yaml] [epochs] [async]
(async: Lightning's AsyncCheckpointIO plugin, the checkpoint written in a thread)
"""

from __future__ import annotations

import json
import sys
import tempfile

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint

from bare_lightning import EpochClock, bare_trainer, loop_setup  # benchmarks/ on sys.path
from library_lightning import early_stopping
from plain_torch import evaluate


class Logged(pl.LightningModule):
    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        super().__init__()
        self.net, self.optimizer = net, optimizer
        self.sums = {stage: torch.zeros(3, dtype=torch.float64) for stage in ("train", "val")}
        self.best = 0.0

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        logits = self.net(batch[0])
        loss = F.cross_entropy(logits, batch[1])
        n = len(batch[1])
        sums = self.sums[stage]
        sums[0].add_(loss.detach(), alpha=n)
        sums[1].add_((logits.detach().argmax(dim=-1) == batch[1]).sum())
        sums[2].add_(n)
        return loss

    def log_epoch(self, stage: str) -> float:
        loss, correct, count = self.sums[stage].tolist()
        self.sums[stage].zero_()
        self.log(f"{stage}/loss", loss / count)
        self.log(f"{stage}/acc", correct / count)
        return correct / count

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        return self.step(batch, "train")

    def on_train_epoch_end(self) -> None:
        self.log_epoch("train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        self.step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self.best = max(self.best, self.log_epoch("val"))
        self.log("val/acc_best", self.best)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer


def main(params_path: str = "params.yaml", epochs: str | None = None, io: str = "sync") -> None:
    cfg, tensors, net, optimizer, train, val = loop_setup(params_path)
    monitor, mode = cfg["monitor"]["metric"], cfg["monitor"]["mode"]
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as checkpoints:
        best = ModelCheckpoint(
            dirpath=checkpoints, monitor=monitor, mode=mode, save_top_k=1, save_last="link"
        )
        epochs_run = int(epochs) if epochs else cfg["trainer"]["max_epochs"]
        trainer = bare_trainer(epochs_run, [clock, best, early_stopping(cfg)])
        if io == "async":
            from lightning.pytorch.plugins.io import AsyncCheckpointIO

            trainer.strategy.checkpoint_io = AsyncCheckpointIO()
        trainer.fit(Logged(net, optimizer), train, val)
    print(json.dumps({"epoch_seconds": clock.seconds, **evaluate(net, *tensors["val"])}))


if __name__ == "__main__":
    main(*sys.argv[1:])
