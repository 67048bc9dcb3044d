"""Restoring a run, said explicitly: start fresh, continue a run, or fine-tune from one.

- fresh: a new MLflow run, new weights.
- continue: the same MLflow run, its config and trainer state (weights, optimizer, epoch,
  callbacks, RNG) from the run's last checkpoint; ends as if it had never stopped.
- finetune: a new MLflow run with the current config, starting from the weights of the run's
  best checkpoint; tagged with the run it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from omegaconf import DictConfig, OmegaConf

from mbegu.errors import MbeguError, first_line

if TYPE_CHECKING:
    from torch import nn

Mode = Literal["fresh", "continue", "finetune"]
MODES: tuple[Mode, ...] = get_args(Mode)
CHECKPOINTS = {
    "continue": ("last.ckpt", "interrupted.ckpt"),
    "finetune": ("best.ckpt", "last.ckpt"),
}


@dataclass(frozen=True)
class ResumePlan:
    """How a fit starts: fresh, continuing a run or fine-tuning from one (cfg.resume).

    Attributes:
        mode: "fresh", "continue" or "finetune".
        run_id: The run continued or fine-tuned from; None for a fresh start.
        checkpoint: The checkpoint it starts from; None for a fresh start.
    """

    mode: Mode
    run_id: str | None = None
    checkpoint: Path | None = None

    def source(self) -> tuple[str, Path]:
        """(run id, checkpoint) of a continue or finetune plan: plan_resume sets both."""
        if self.run_id is None or self.checkpoint is None:
            raise MbeguError(f"resume.mode={self.mode} names no run to resume from")
        return self.run_id, self.checkpoint


def plan_resume(cfg: DictConfig, checkpoint_root: Path) -> ResumePlan:
    """Read cfg.resume and find the checkpoint it needs, or say what is missing."""
    resume = cfg.get("resume") or {}
    mode, run_id = resume.get("mode") or "fresh", resume.get("run_id")
    if mode not in MODES:
        raise MbeguError(f"resume.mode={mode!r} is not one of {', '.join(MODES)}")
    if mode == "fresh":
        return ResumePlan("fresh")
    if not run_id:
        raise MbeguError(
            f"resume.mode={mode} needs resume.run_id=<MLflow run id> (see `mbegu ui` or "
            f"reports/run.json)"
        )
    from mbegu.security import safe_name

    folder = checkpoint_root / safe_name(run_id, "resume.run_id")
    for name in CHECKPOINTS[mode]:
        if (folder / name).is_file():
            return ResumePlan(mode, str(run_id), folder / name)
    raise MbeguError(
        f"no checkpoint for run {run_id} in {folder}: the run must have been trained on this "
        f"machine with checkpointing on (callbacks=default)"
    )


def continued_config(plan: ResumePlan, cfg: DictConfig) -> DictConfig:
    """The config the run was started with (stored in its checkpoints), with this resume."""
    from mbegu.config.schema import validate
    from mbegu.security import check_targets, refuse_interpolation

    saved = _load(plan)
    if not isinstance(saved.get("mbegu_config"), dict):
        raise MbeguError(
            f"{plan.checkpoint} holds no mbegu config: continue needs a checkpoint "
            f"written by mbegu train"
        )
    refuse_interpolation(saved["mbegu_config"], str(plan.checkpoint))
    check_targets(saved["mbegu_config"], str(plan.checkpoint))
    config = OmegaConf.create(saved["mbegu_config"])
    config.resume = cfg.resume
    config.tracking = cfg.tracking  # where runs go now (checkpoints hold no credentials)
    validate(config)
    return config


def _load(plan: ResumePlan) -> dict[str, Any]:
    """A checkpoint read as plain data: tensors, numbers, strings, lists and dicts only."""
    import torch

    _, checkpoint = plan.source()
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refuses anything that would run code
        raise MbeguError(
            f"{plan.checkpoint} is not a plain checkpoint ({first_line(err, 160)}): refused, "
            f"nothing was loaded"
        ) from None
    if not isinstance(saved, dict):
        raise MbeguError(f"{plan.checkpoint} is not a Lightning checkpoint")
    return saved


def load_weights(model: nn.Module, plan: ResumePlan) -> None:
    """Fine-tuning: the source run's weights into a model of the same architecture."""
    state = _load(plan).get("state_dict", {})
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = first_line(err)
        raise MbeguError(
            f"run {plan.run_id}'s weights do not fit this model ({first}): "
            f"fine-tune with the same model config"
        ) from None
