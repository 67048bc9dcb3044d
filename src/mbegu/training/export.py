"""What a finished fit leaves behind: the best weights restored, the model written.

The model goes where train()'s `outputs` says: the pipeline's artifacts and history, or an ad
hoc run's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from mbegu.project import project_root

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from mbegu.data.datamodule import DataModule
    from mbegu.models.classifier import Classifier
    from mbegu.tracking.tracker import MlflowTracker

# Where train() puts the model (see train's docstring).
Outputs = Literal["pipeline", "run", "none"]
OUTPUTS: tuple[Outputs, ...] = get_args(Outputs)

# The pipeline's model md5 on the run that trained it: `evaluate` finds the run by it.
TAG_MODEL_MD5 = "mbegu.model.md5"


def best_path(trainer: pl.Trainer) -> str | None:
    """The best checkpoint's file, if the fit had a checkpoint callback and it wrote one."""
    callback = getattr(trainer, "checkpoint_callback", None)
    best = getattr(callback, "best_model_path", "") if callback else ""
    return best if best and Path(best).is_file() else None


def restore_best(trainer: pl.Trainer, model: pl.LightningModule) -> str | None:
    """Load the best checkpoint's weights, so the exported model is the one val chose.

    (Not load_from_checkpoint: the module's hparams hold no network, the config builds it.)

    Args:
        trainer: The trainer that ran the fit.
        model: The model to load the weights into.

    Returns:
        The best checkpoint's file, or None when there is none (the weights stay the last).
    """
    import torch

    best = best_path(trainer)
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        model.load_state_dict(state)
        return best
    return None


def write_outputs(
    config: dict[str, Any],
    paths: dict[str, Path],
    model: Classifier,
    datamodule: DataModule,
    rows: list[dict[str, float]],
    run_id: str,
    tracker: MlflowTracker,
    outputs: Outputs,
) -> None:
    """The pipeline's model and history, or an ad hoc run's model under its run id."""
    from mbegu.io import atomic_write_json, atomic_write_text
    from mbegu.models.saved import load_model, model_md5, save_model

    encoder = datamodule.data.load()
    if outputs == "pipeline":
        from mbegu.staging import staged_outputs

        # All of the stage's outputs or none: they move into place together at the end.
        with staged_outputs(project_root(), "train") as stage:
            model_dir = stage.path(paths["model_dir"])
            save_model(model_dir, model.net, config, encoder)
            digest = model_md5(model_dir)
            tracker.client.set_tag(run_id, TAG_MODEL_MD5, digest)  # evaluate finds the run by it
            columns = list(dict.fromkeys(k for row in rows for k in row))
            lines = [",".join(columns)]
            lines += [",".join(_fmt(row.get(c)) for c in columns) for row in rows]
            history = stage.path(paths["reports_dir"] / "history.csv")
            atomic_write_text(history, "\n".join(lines) + "\n")
            # Not a DVC output (run ids differ on every run, the model does not): how
            # `evaluate` finds the run to complete.
            link = {"mlflow_run_id": run_id, "model_md5": digest}
            atomic_write_json(stage.path(paths["run_file"]), link)
        return
    from mbegu.models.mlflow_model import log_model

    model_dir = paths["checkpoint_dir"] / run_id / "model"
    save_model(model_dir, model.net, config, encoder)
    last = int(rows[-1]["epoch"]) if rows else 0
    saved = load_model(model_dir)
    example = datamodule.data.example_frame()
    log_model(tracker, run_id, saved, model_dir, example, register=False, step=last)
    from mbegu.summary import show

    where = model_dir.relative_to(project_root()).as_posix()
    show([f"model: {where} and the run's `model`", f"  mbegu predict ROWS.csv --run-id {run_id}"])


def _fmt(value: float | None) -> str:
    """A history.csv cell: integers as they are, floats to 6 significant digits."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.6g}"
