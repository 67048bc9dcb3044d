"""One torchmetrics Metric for mean loss and accuracy: a single update per step.

Two separate metrics cost two wrapper calls per step, which on these tiny networks is a
visible share of an epoch. States are sums, so DDP reduces them exactly.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class LossAccuracy(Metric):
    """Mean loss and accuracy over an epoch, summed across DDP processes."""

    full_state_update = False
    higher_is_better = None
    # The states add_state registers: Metric's attribute lookup is typed Tensor | Module.
    loss_sum: torch.Tensor
    correct: torch.Tensor
    count: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("loss_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("correct", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch's loss (weighted by its rows) and correct predictions."""
        # In-place adds: the same float64 sums as `+= loss.double() * n`, in one op each.
        n = len(target)
        self.loss_sum.add_(loss.detach(), alpha=n)
        self.correct.add_((logits.argmax(dim=-1) == target).sum())
        self.count.add_(n)

    def compute(self) -> dict[str, torch.Tensor]:
        """The epoch's mean loss and accuracy so far."""
        count = self.count.clamp(min=1)
        return {"loss": (self.loss_sum / count).float(), "acc": self.correct.float() / count}
