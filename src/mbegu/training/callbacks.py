"""The callbacks of every fit: the config's `callbacks` group, and those mbegu adds to every run.

mbegu's own: a stop on a diverged loss, per-epoch history and line-based progress, the run's
state in its checkpoints.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_only

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    import numpy as np
    from lightning.pytorch.utilities.types import STEP_OUTPUT
    from omegaconf import DictConfig


# The epoch line fits 100 columns: weighted F1 is shortened, the best val accuracy so far (in
# MLflow, not what `monitor` watches by default) left out.
SHORT = {"f1_weighted": "f1w"}
UNSHOWN = ("val/acc_best",)


class NonFiniteError(MbeguError):
    """The loss or a validation metric became NaN or infinite: the model diverged."""


class StopOnNonFinite(pl.Callback):
    """Stops training at the first non-finite loss.

    So a diverged model never reaches artifacts/ or the registry. (EarlyStopping's check_finite
    only stops, quietly, and only on its own monitor at validation time.)
    """

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: STEP_OUTPUT,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Stop on a non-finite train loss, at the batch it appears in."""
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        # A scalar's .item() is one call; torch.isfinite(...).all() is two ops and a tensor,
        # many times slower, on every batch.
        if loss.numel() == 1:
            if not math.isfinite(loss.item()):
                self._stop("train/loss", loss.item(), trainer)
        elif not bool(torch.isfinite(loss).all()):
            self._stop("train/loss", float(loss.detach().float().mean()), trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Stop on a non-finite val loss (not in the sanity check)."""
        value = trainer.callback_metrics.get("val/loss")
        if trainer.sanity_checking or value is None:
            return
        if not bool(torch.isfinite(value).all()):
            self._stop("val/loss", float(value), trainer)

    @staticmethod
    def _stop(name: str, value: float, trainer: pl.Trainer) -> None:
        raise NonFiniteError(
            f"{name} is {value} at epoch {trainer.current_epoch + 1}: the model diverged; "
            f"lower model.optimizer.lr (or check the data for extreme values)"
        )


class EpochReport(pl.Callback):
    """Keeps one row of metrics per epoch; prints it as a line when there is no progress bar."""

    def __init__(self, print_lines: bool) -> None:
        self.print_lines = print_lines
        self.rows: list[dict[str, float]] = []
        self.seconds: list[float] = []  # wall time of each epoch, validation included
        self._started = 0.0

    def state_dict(self) -> dict[str, Any]:
        """The history so far, kept in checkpoints: a continued run keeps its history."""
        return {"rows": self.rows, "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take up the history a checkpoint kept."""
        self.rows, self.seconds = list(state_dict["rows"]), list(state_dict["seconds"])

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start the epoch's clock."""
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Record the epoch's metrics and wall time; print them as a line when there is no bar."""
        metrics = {
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith(("train/", "val/")) and v.numel() == 1
        }
        row: dict[str, float] = {"epoch": trainer.current_epoch, **dict(sorted(metrics.items()))}
        self.rows.append(row)
        self.seconds.append(time.perf_counter() - self._started)
        if self.print_lines:
            self._print(trainer, row, self.seconds[-1])

    @rank_zero_only
    def _print(self, trainer: pl.Trainer, row: dict[str, float], seconds: float) -> None:
        """One line per epoch, its metrics grouped by their prefix, so that a line fits 100 columns.

        For example `epoch 3/30  train acc 0.9222 loss 0.2767  val acc 0.9517 ...  0.04s`.
        """
        groups: dict[str, list[str]] = {}
        for key, value in row.items():
            if key != "epoch" and key not in UNSHOWN:
                prefix, _, name = key.rpartition("/")
                groups.setdefault(prefix, []).append(f"{SHORT.get(name, name)} {value:.4f}")
        shown = "  ".join(" ".join([prefix, *items]).strip() for prefix, items in groups.items())
        print(f"epoch {row['epoch'] + 1}/{trainer.max_epochs}  {shown}  {seconds:.2f}s", flush=True)


class RunState(pl.Callback):
    """Puts the composed config and the RNG states into every checkpoint; writes interrupted.ckpt.

    interrupted.ckpt is written when training stops on an exception (Ctrl-C, SIGTERM, a crash), and
    `resume.mode=continue` picks it up. (Lightning's OnExceptionCheckpoint would do the last part,
    but with it in the callbacks every fresh `fit(ckpt_path=None)` resumes from the newest
    checkpoint it finds, warning; and it cannot skip a diverged model.)

    With them a checkpoint reloads without the config that made it, and a continued run
    draws the same dropout masks as an uninterrupted one. Everything stored is plain lists,
    numbers and tensors, so checkpoints load with torch.load(weights_only=True).
    """

    def __init__(self, config: dict[str, Any], checkpoint_dir: Path) -> None:
        self.config, self.checkpoint_dir = config, checkpoint_dir

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Store the config and the torch, numpy and Python RNG states in the checkpoint."""
        import random

        import numpy as np
        import torch

        # The global RandomState is MT19937, whose legacy state is this tuple (numpy's
        # stubs also allow the dict of other bit generators).
        numpy_state = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())
        kind, keys, pos, has_gauss, cached = numpy_state
        version, state, gauss = random.getstate()
        checkpoint["mbegu_config"] = self.config
        checkpoint["mbegu_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": [kind, keys.tolist(), pos, has_gauss, cached],
            "python": [version, list(state), gauss],
        }

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Restore the stored RNG states: a continued run draws as an uninterrupted one would."""
        import random

        import numpy as np
        import torch

        rng = checkpoint.get("mbegu_rng")
        if rng:
            torch.set_rng_state(rng["torch"])
            kind, keys, pos, has_gauss, cached = rng["numpy"]
            np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
            version, state, gauss = rng["python"]
            random.setstate((version, tuple(state), gauss))

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """Write interrupted.ckpt, unless the model diverged."""
        if isinstance(exception, NonFiniteError):
            return  # diverged weights are not worth continuing from
        trainer.save_checkpoint(self.checkpoint_dir / "interrupted.ckpt")


def build_callbacks(
    callbacks_cfg: DictConfig | None, checkpoint_dir: Path, last_checkpoint: bool = True
) -> list[pl.Callback]:
    """Instantiate each callback in the group; null entries (e.g. from debug=fast) are off.

    Args:
        callbacks_cfg: cfg.callbacks: a name and a callback config for each.
        checkpoint_dir: The run's checkpoint folder, for a ModelCheckpoint that names none.
        last_checkpoint: False: no last.ckpt each epoch; the best one stays, to fine-tune from.

    Returns:
        The callbacks, in the group's order.
    """
    from mbegu.security import instantiate

    built = []
    for spec in (callbacks_cfg or {}).values():
        if spec is None:
            continue
        extra = {"dirpath": str(checkpoint_dir)} if "dirpath" in spec and not spec.dirpath else {}
        built.append(instantiate(spec, where="callbacks", **extra))
    if not last_checkpoint:
        for callback in built:
            if isinstance(callback, pl.callbacks.ModelCheckpoint):
                callback.save_last = False
    return built


def show_progress_bar(cfg: DictConfig) -> bool:
    """cfg.trainer.enable_progress_bar, else a bar on a terminal only.

    In a log file or CI its redraws are noise, and EpochReport prints one line per epoch instead.
    """
    configured = cfg.trainer.get("enable_progress_bar")
    return sys.stderr.isatty() if configured is None else bool(configured)
