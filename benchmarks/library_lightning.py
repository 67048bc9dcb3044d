"""The libraries' way: the bookkeeping a tracked, resumable run needs, from library pieces only.

The bare Lightning loop (bare_lightning.py) logs, checks and saves nothing. This one adds what
the train stage must do, each with the piece its library documents for it and nothing of
mbegu's: torchmetrics for `train/*` and `val/*` (logged once per epoch through `self.log`),
Lightning's ModelCheckpoint (best and last, on the configured monitor) and EarlyStopping, and
Lightning's MLFlowLogger (the config as params, every epoch's metrics) into the same MLflow
store. A comparison, not a lower bound: mbegu does the same bookkeeping with fewer calls.

Usage: python benchmarks/library_lightning.py [params.yaml] [epochs] [sync|async]
(async: MLFlowLogger(synchronous=False), MLflow's background queue for the epoch writes)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from bare_lightning import EpochClock, bare_trainer, loop_setup  # benchmarks/ on sys.path
from plain_torch import evaluate


class Tracked(pl.LightningModule):
    """Cross-entropy with epoch-level loss and accuracy, as torchmetrics' docs log them."""

    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, classes: int):
        super().__init__()
        self.net, self.optimizer = net, optimizer
        self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
        self.train_acc = MulticlassAccuracy(num_classes=classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=classes, average="micro")

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        logits = self.net(batch[0])
        loss = F.cross_entropy(logits, batch[1])
        mean_loss, accuracy = getattr(self, f"{stage}_loss"), getattr(self, f"{stage}_acc")
        mean_loss(loss)
        accuracy(logits, batch[1])
        self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True)
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        return self.step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        self.step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer


def early_stopping(cfg: dict) -> EarlyStopping:
    return EarlyStopping(
        monitor=cfg["monitor"]["metric"],
        mode=cfg["monitor"]["mode"],
        patience=cfg["callbacks"]["early_stopping"]["patience"],
    )


def flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def main(params_path: str = "params.yaml", epochs: str | None = None, writes: str = "sync") -> None:
    cfg, tensors, net, optimizer, train, val = loop_setup(params_path)
    monitor, mode = cfg["monitor"]["metric"], cfg["monitor"]["mode"]
    classes = int(tensors["train"][1].max()) + 1
    clock = EpochClock()
    logger = MLFlowLogger(
        experiment_name="bench-library-lightning",
        tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
        synchronous=writes != "async",
    )
    logger.log_hyperparams(flat(cfg))
    with tempfile.TemporaryDirectory() as checkpoints:
        last = ModelCheckpoint(
            dirpath=checkpoints, monitor=monitor, mode=mode, save_top_k=1, save_last=True
        )
        epochs_run = int(epochs) if epochs else cfg["trainer"]["max_epochs"]
        trainer = bare_trainer(epochs_run, [clock, last, early_stopping(cfg)], logger)
        trainer.fit(Tracked(net, optimizer, classes), train, val)
    print(json.dumps({"epoch_seconds": clock.seconds, **evaluate(net, *tensors["val"])}))


if __name__ == "__main__":
    main(*sys.argv[1:])
