"""train(cfg): one function behind the DVC stage, `mbegu train` and every sweep trial."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from mbegu.project import project_root
from mbegu.tracking.lineage import lineage_tags


@dataclass
class TrainResult:
    """What a finished fit hands back: the MLflow run, final and per-epoch metrics."""

    run_id: str | None
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    best_checkpoint: str | None = None
    timings: dict[str, Any] = field(default_factory=dict)


def quiet_lightning() -> None:
    """Keep the console to what matters: mbegu's epoch lines, warnings and errors."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    # Epoch metrics come from torchmetrics, whose compute() already reduces across processes.
    warnings.filterwarnings("ignore", ".*sync_dist=True.*")


def resolve_paths(cfg: DictConfig, root: Path) -> dict[str, Path]:
    return {key: root / value for key, value in cfg.paths.items()}


def build_callbacks(callbacks_cfg: DictConfig | None, checkpoint_dir: Path) -> list[Any]:
    """Instantiate each callback in the group; null entries (e.g. from debug=fast) are off."""
    from hydra.utils import instantiate

    built = []
    for spec in (callbacks_cfg or {}).values():
        if spec is None:
            continue
        extra = {"dirpath": str(checkpoint_dir)} if "dirpath" in spec and not spec.dirpath else {}
        built.append(instantiate(spec, **extra))
    return built


def show_progress_bar(cfg: DictConfig) -> bool:
    configured = cfg.trainer.get("enable_progress_bar")
    return sys.stderr.isatty() if configured is None else bool(configured)


def train(
    cfg: DictConfig,
    *,
    callbacks: Sequence[Any] = (),
    parent_run_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    finish_on: tuple[type[BaseException], ...] = (),
    write_outputs: bool = True,
) -> TrainResult:
    """Fit cfg.model on cfg.data, tracked as one MLflow run.

    With `write_outputs` (the DVC stage and `mbegu train`), the model and per-epoch history
    are written under cfg.paths for `evaluate`; sweep trials leave them alone. cfg.resume
    says whether to start fresh, continue a run or fine-tune from one (training.resume).
    Exceptions in `finish_on` (a pruned sweep trial) end the run FINISHED, not FAILED.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from mbegu.training.resume import continued_config, load_weights, plan_resume

    timings: dict[str, Any] = {}
    clock = time.perf_counter()
    root = project_root()
    plan = plan_resume(cfg, resolve_paths(cfg, root)["checkpoint_dir"])
    if plan.mode == "continue":
        cfg = continued_config(plan, cfg)
    paths = resolve_paths(cfg, root)
    tracker = instantiate(cfg.tracking)
    tracker.check()  # an unreachable server fails now, not after the heavy imports

    import pytorch_lightning as pl
    from pytorch_lightning.utilities import rank_zero_only

    from mbegu.data.datamodule import build_datamodule
    from mbegu.training.callbacks import EpochReport, RunState

    quiet_lightning()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg, root)
    model = instantiate(cfg.model)
    if plan.mode == "finetune":
        load_weights(model, plan)
    timings["setup_s"], clock = time.perf_counter() - clock, time.perf_counter()

    run_id = plan.run_id if plan.mode == "continue" else None
    if rank_zero_only.rank == 0:
        run_id = _open_run(tracker, cfg, root, plan, parent_run_id, run_name, tags)
    run = tracker.run(run_id, finish_on=finish_on) if run_id else nullcontext()
    with run, _sigterm_as_interrupt():
        if run_id and plan.mode != "continue":
            tracker.log_config(run_id, cfg)
            tracker.log_environment(run_id, root)
        timings["tracking_setup_s"], clock = time.perf_counter() - clock, time.perf_counter()
        bar = show_progress_bar(cfg)
        report = EpochReport(print_lines=not bar)
        checkpoint_dir = paths["checkpoint_dir"] / (run_id or "rank-nonzero")
        state = RunState(OmegaConf.to_container(cfg, resolve=True), checkpoint_dir)
        trainer = instantiate(
            cfg.trainer,
            callbacks=[
                *build_callbacks(cfg.get("callbacks"), checkpoint_dir),
                state,
                report,
                *callbacks,
            ],
            logger=tracker.lightning_logger(run_id) if run_id else False,
            enable_progress_bar=bar,
            default_root_dir=str(checkpoint_dir),
        )
        ckpt_path = str(plan.checkpoint) if plan.mode == "continue" else None
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        timings["fit_s"], clock = time.perf_counter() - clock, time.perf_counter()
        best = _restore_best(trainer, model)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if write_outputs and trainer.is_global_zero:
            _write_outputs(cfg, paths, model, report.rows, run_id, tracker)
    timings["outputs_and_close_s"] = time.perf_counter() - clock
    timings["epoch_s"] = report.seconds
    return TrainResult(run_id, metrics, report.rows, best, timings)


def _open_run(
    tracker: Any,
    cfg: DictConfig,
    root: Path,
    plan: Any,
    parent_run_id: str | None,
    run_name: str | None,
    extra_tags: dict[str, str] | None,
) -> str:
    """The MLflow run this fit logs to: the continued one, or a new one with lineage tags."""
    if plan.mode == "continue":
        tracker.require_run(plan.run_id)
        tracker.client.set_tag(plan.run_id, "mbegu.resumed_from", plan.checkpoint.name)
        print(f"MLflow run {plan.run_id} continues from {plan.checkpoint}", flush=True)
        return plan.run_id
    tags = lineage_tags(root, cfg.model.net.get("_target_")) | (extra_tags or {})
    if plan.mode == "finetune":
        tags |= {"mbegu.finetuned_from": plan.run_id, "mbegu.resume.mode": "finetune"}
    run_id = tracker.start_run(tags, parent_run_id=parent_run_id, run_name=run_name)
    print(f"MLflow run {run_id} (experiment '{tracker.experiment_name}')", flush=True)
    return run_id


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler, `kill`, `docker stop`) stops training like Ctrl-C: Lightning
    writes interrupted.ckpt and the run ends KILLED instead of vanishing mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _restore_best(trainer: Any, model: Any) -> str | None:
    """Load the best checkpoint's weights, so the exported model is the one val chose."""
    import torch

    callback = getattr(trainer, "checkpoint_callback", None)
    best = getattr(callback, "best_model_path", "") if callback else ""
    if best and Path(best).is_file():
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        model.load_state_dict(state)
        return best
    return None


def _write_outputs(
    cfg: DictConfig,
    paths: dict[str, Path],
    model: Any,
    rows: list[dict],
    run_id: str | None,
    tracker: Any,
) -> None:
    from mbegu.io import atomic_write_text
    from mbegu.training.artifacts import save_model

    run = {
        "run_id": run_id,
        "tracking_uri": tracker.tracking_uri,
        "experiment_name": tracker.experiment_name,
    }
    save_model(paths["model_dir"], model.net, cfg, run)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = [",".join(columns)]
    lines += [",".join(_fmt(row.get(c)) for c in columns) for row in rows]
    atomic_write_text(paths["reports_dir"] / "history.csv", "\n".join(lines) + "\n")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.6g}"
