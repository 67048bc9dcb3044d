"""A reference point: the same work in a bare Lightning loop (no metrics, tracking or
checkpoints), to separate Lightning's own per-step cost from what mbegu adds.

Usage: python benchmarks/bare_lightning.py [params.yaml] [epochs]
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from mbegu.data.loading import EpochSeededSampler, TensorRows, as_batch
from plain_torch import evaluate, setup  # benchmarks/ is on sys.path when run as a script


class Bare(pl.LightningModule):
    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        super().__init__()
        self.net, self.optimizer = net, optimizer

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        F.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer


class EpochClock(pl.Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, *_: object) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, *_: object) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def bare_loaders(tensors: dict, batch: int, seed: int) -> tuple[DataLoader, DataLoader]:
    """Train and val batches in the train stage's order (seeded by epoch) and sizes."""
    train = DataLoader(
        TensorRows(*tensors["train"]),
        batch_size=batch,
        collate_fn=as_batch,
        sampler=EpochSeededSampler(len(tensors["train"][1]), seed),
    )
    return train, DataLoader(TensorRows(*tensors["val"]), batch_size=batch, collate_fn=as_batch)


def bare_trainer(epochs: int, callbacks: list[pl.Callback], logger: object = False) -> pl.Trainer:
    """A Lightning Trainer with nothing of its own on: no progress, and a logger or checkpoints
    only when given (library_lightning.py gives them)."""
    return pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=logger,
        enable_checkpointing=any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=True,
        callbacks=callbacks,
    )


def loop_setup(
    params_path: str,
) -> tuple[dict, dict, torch.nn.Module, torch.optim.Optimizer, DataLoader, DataLoader]:
    """Lightning quieted, then what every reference loop starts from: the config, tensors,
    network, optimizer and the train stage's loaders."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    cfg, tensors, net, optimizer = setup(params_path)
    train, val = bare_loaders(tensors, cfg["data"]["batch_size"], cfg["data"]["seed"])
    return cfg, tensors, net, optimizer, train, val


def main(params_path: str = "params.yaml", epochs: str | None = None) -> None:
    cfg, tensors, net, optimizer, train, val = loop_setup(params_path)
    clock = EpochClock()
    trainer = bare_trainer(int(epochs) if epochs else cfg["trainer"]["max_epochs"], [clock])
    trainer.fit(Bare(net, optimizer), train, val)
    print(json.dumps({"epoch_seconds": clock.seconds, **evaluate(net, *tensors["val"])}))


if __name__ == "__main__":
    main(*sys.argv[1:])
