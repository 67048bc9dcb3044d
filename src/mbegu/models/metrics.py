"""One torchmetrics Metric for an epoch's loss, accuracy and weighted F1: one update per step.

Separate metrics cost a wrapper call each per step, which on these tiny networks is a visible
share of an epoch. States are sums (the loss, and the confusion matrix every score comes
from), so DDP reduces them exactly.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class EpochScores(Metric):
    """Mean loss, accuracy and weighted F1 over an epoch, summed across DDP processes.

    Weighted F1 is each class's F1 weighted by its share of the rows, as scikit-learn's
    `f1_score(average="weighted")` that `evaluate` reports: on imbalanced data it does not
    reward predicting the majority class the way accuracy does, so `monitor.metric` can pick
    the epoch by the figure the test split is judged on.

    Args:
        num_classes: The number of classes (the confusion matrix's side).
    """

    full_state_update = False
    higher_is_better = None
    # The states add_state registers: Metric's attribute lookup is typed Tensor | Module.
    loss_sum: torch.Tensor
    confusion: torch.Tensor

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.add_state("loss_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        # Rows are the true class, columns the predicted one.
        self.add_state(
            "confusion",
            torch.zeros(num_classes * num_classes, dtype=torch.int64),
            dist_reduce_fx="sum",
        )

    def update(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch's loss (weighted by its rows) and its predictions to the counts."""
        # In-place adds: the same float64 sums as `+= loss.double() * n`, in one op each.
        self.loss_sum.add_(loss.detach(), alpha=len(target))
        cells = target * self.num_classes + logits.argmax(dim=-1)
        self.confusion.add_(torch.bincount(cells, minlength=self.num_classes**2))

    def compute(self) -> dict[str, torch.Tensor]:
        """The epoch's mean loss, accuracy and weighted F1 so far."""
        confusion = self.confusion.view(self.num_classes, self.num_classes).double()
        count = confusion.sum().clamp(min=1)
        hits = confusion.diagonal()
        truth, predicted = confusion.sum(dim=1), confusion.sum(dim=0)
        # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (true + predicted); 0 for an absent class.
        f1 = torch.where(truth + predicted > 0, 2 * hits / (truth + predicted).clamp(min=1), 0.0)
        return {
            "loss": (self.loss_sum / count).float(),
            "acc": (hits.sum() / count).float(),
            "f1_weighted": ((f1 * truth).sum() / count).float(),
        }
