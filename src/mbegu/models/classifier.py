"""The LightningModule: the training *system* around any classification network."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MaxMetric

from mbegu.models.metrics import EpochScores

if TYPE_CHECKING:
    from lightning.pytorch.utilities.types import STEP_OUTPUT, OptimizerLRScheduler

    from mbegu.data.loading import Batch, Inputs

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class Classifier(pl.LightningModule):
    """Cross-entropy training of `net`; logs `STAGE/{loss,acc,f1_weighted}` and `val/acc_best`.

    `STAGE` is train, val or test.

    Args:
        net: The classification network: inputs in, one logit per class out.
        optimizer: A partial optimizer class (`_partial_: true`), called with the parameters.
        scheduler: A partial learning-rate scheduler, called with the optimizer; None for none.
        num_classes: The number of classes (filled in from the data).
        init_weights: The network's starting weights, a state dict file in the project
            (`model.init_weights`); training loads it (models.build), this records it.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        num_classes: int = 2,
        init_weights: str | None = None,
    ) -> None:
        super().__init__()
        # The network and factories are rebuilt from the config stored in the checkpoint
        # (see training.checkpoint), not pickled into hparams.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"])
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # Metrics accumulate per step and are logged once per epoch: per-step self.log()
        # calls cost more than the tiny networks' forward pass.
        self.train_metrics = EpochScores(num_classes)
        self.val_metrics = EpochScores(num_classes)
        self.test_metrics = EpochScores(num_classes)
        self.val_acc_best = MaxMetric()

    def forward(self, x: Inputs) -> torch.Tensor:
        """The network's logits for a batch of inputs.

        Args:
            x: A batch of encoded inputs (a tensor, or a text batch's ids and offsets).

        Returns:
            One logit per class for each row.
        """
        return self.net(x)

    def on_train_start(self) -> None:
        """Forget the best val accuracy of an earlier fit of this module."""
        self.val_acc_best.reset()

    def _shared_step(self, batch: Batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        getattr(self, f"{stage}_metrics").update(loss, logits.detach(), y)
        return loss

    def _log_epoch(self, stage: str) -> dict[str, torch.Tensor]:
        metric: EpochScores = getattr(self, f"{stage}_metrics")
        values = {f"{stage}/{k}": v for k, v in metric.compute().items()}
        metric.reset()
        if stage == "train":  # the train split's F1 says nothing its accuracy does not
            del values["train/f1_weighted"]
        # compute() already reduced across DDP processes: no sync_dist needed.
        self.log_dict(values, on_step=False, on_epoch=True, batch_size=1)  # epoch values
        return values

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        """One train batch's cross-entropy; its loss and accuracy accumulate for the epoch.

        Args:
            batch: (inputs, labels).
            batch_idx: The batch's index in the epoch.

        Returns:
            The batch's loss, which Lightning back-propagates.
        """
        return self._shared_step(batch, "train")

    def on_train_batch_end(self, outputs: STEP_OUTPUT, batch: Any, batch_idx: int) -> None:
        """Log the epoch's train metrics at its last batch.

        Args:
            outputs: The training step's output (unused).
            batch: The batch (unused).
            batch_idx: The batch's index: the last one logs the epoch.
        """
        # Log the epoch's train metrics at its last batch, not in on_train_epoch_end: Lightning
        # runs callbacks' on_train_epoch_end (the epoch report) before the module's, which
        # would see them one epoch late.
        if batch_idx + 1 == self.trainer.num_training_batches:
            self._log_epoch("train")

    def on_train_epoch_end(self) -> None:
        """Log the train metrics of an epoch that stopped before its last batch."""
        if self.train_metrics.update_count:  # the epoch stopped before its last batch
            self._log_epoch("train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Accumulate one val batch's loss and accuracy for the epoch.

        Args:
            batch: (inputs, labels).
            batch_idx: The batch's index in the epoch.
        """
        self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        """Log the val metrics and, past the sanity check, the best val accuracy so far."""
        values = self._log_epoch("val")
        if not self.trainer.sanity_checking:
            self.val_acc_best.update(values["val/acc"])
            self.log("val/acc_best", self.val_acc_best.compute())

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        """Accumulate one test batch's loss and accuracy.

        Args:
            batch: (inputs, labels).
            batch_idx: The batch's index.
        """
        self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        """Log the test metrics: `test/loss`, `test/acc`."""
        self._log_epoch("test")

    def predict_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        """Class probabilities for one batch (Trainer.predict).

        Args:
            batch: (inputs, labels); the labels are not read.
            batch_idx: The batch's index.

        Returns:
            One probability per class for each row.
        """
        return torch.softmax(self(batch[0]), dim=-1)

    def configure_optimizers(self) -> OptimizerLRScheduler:
        """The optimizer over the parameters, with the scheduler when the config has one.

        Returns:
            The optimizer, or Lightning's {"optimizer", "lr_scheduler"} dict.
        """
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
