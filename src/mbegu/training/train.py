"""train(cfg): one function behind the DVC stage, `mbegu train` and every sweep trial."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from mbegu.processes import exit_as_interrupt, signals_deferred, sigterm_as_interrupt
from mbegu.project import project_root, resolve_paths
from mbegu.tracking.lineage import TAG_DATA_MD5
from mbegu.training.export import OUTPUTS, Outputs, best_path, restore_best, write_outputs
from mbegu.training.mlflow_run import log_dataset, open_run

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from mbegu.data.datamodule import DataModule
    from mbegu.models.classifier import Classifier
    from mbegu.tracking.tracker import MlflowTracker


@dataclass
class TrainResult:
    """What a finished fit hands back: the MLflow run, final and per-epoch metrics."""

    run_id: str | None
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    best_checkpoint: str | None = None
    timings: dict[str, float | list[float]] = field(default_factory=dict)
    link: str | None = None  # the run's page in the MLflow UI


def train(
    cfg: DictConfig,
    *,
    callbacks: Sequence[pl.Callback] = (),
    parent_run_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    finish_on: tuple[type[BaseException], ...] = (),
    outputs: Outputs = "pipeline",
    tracker: MlflowTracker | None = None,
    last_checkpoint: bool = True,
) -> TrainResult:
    """Fit cfg.model on cfg.data, tracked as one MLflow run.

    `outputs` says where the model goes: "pipeline" (the DVC train stage) writes
    artifacts/model, reports/history.csv and the run id for `evaluate`; "run" (an ad hoc
    `mbegu train`) leaves the pipeline alone and puts the model under checkpoints/<run id>/model
    and into the MLflow run; "none" (a sweep trial) keeps only the run (and best.ckpt, whose
    weights it does not load back into the model). cfg.resume says whether to start fresh,
    continue a run or fine-tune from one (training.resume). Exceptions in `finish_on` (a
    pruned sweep trial) end the run FINISHED, not FAILED. `tracker`: the caller's, built from
    the same cfg.tracking (a sweep worker: one store client and one dead-run check per worker,
    not per trial). `parent_run_id`: a sweep's parent run, which holds the study's config.yaml
    and environment/requirements.txt (each trial still logs its config as params and tags the
    lock's md5 and key versions). `last_checkpoint=False` writes no last.ckpt each epoch (a
    sweep trial that stops is rerun, never continued).
    """
    from omegaconf import OmegaConf

    from mbegu.config.options import check_options
    from mbegu.security import instantiate, mask_tree
    from mbegu.training.resume import continued_config, load_weights, plan_resume

    if outputs not in OUTPUTS:
        raise ValueError(f"outputs={outputs!r} is not one of {OUTPUTS}")
    timings: dict[str, float | list[float]] = {}
    clock = time.perf_counter()
    root = project_root()
    plan = plan_resume(cfg, resolve_paths(cfg, root)["checkpoint_dir"])
    if plan.mode == "continue":
        cfg = continued_config(plan, cfg)
    paths = resolve_paths(cfg, root)
    check_options(cfg, ("tracking",))
    if tracker is None:
        tracker = instantiate(cfg.tracking, where="tracking")
        tracker.check()  # an unreachable server fails now, not after the heavy imports

    import lightning.pytorch as pl
    from lightning.pytorch.utilities import rank_zero_only

    from mbegu.data.datamodule import build_datamodule
    from mbegu.logs import quiet_lightning
    from mbegu.models.build import with_data_sizes
    from mbegu.tracking.logger import build_loggers
    from mbegu.training.callbacks import (
        EpochReport,
        RunState,
        StopOnNonFinite,
        build_callbacks,
        show_progress_bar,
    )

    quiet_lightning()
    check_options(cfg)  # a misspelt option is one line, before any run is opened
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg, root)
    cfg = with_data_sizes(cfg, datamodule.data)
    model: Classifier = instantiate(cfg.model, where="model")
    if plan.mode == "finetune":
        load_weights(model, plan)
    timings["setup_s"], clock = time.perf_counter() - clock, time.perf_counter()

    # SIGTERM is an interrupt from before the run opens: a worker stopped between opening
    # its run and entering it would otherwise leave the run RUNNING.
    with sigterm_as_interrupt(), ExitStack() as stack:
        # Held signals: a run created but not yet entered would stay RUNNING for good.
        with signals_deferred():
            run_id = plan.run_id if plan.mode == "continue" else None
            if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # set at import, untyped
                data_tags = {TAG_DATA_MD5: datamodule.data.digest()}
                run_id = open_run(
                    tracker, cfg, root, plan, parent_run_id, run_name, data_tags | (tags or {})
                )
            if run_id:
                stack.enter_context(tracker.run(run_id, finish_on=finish_on))
        # Inside the run from here: a signal held above ends it KILLED.
        if run_id and plan.mode != "continue":
            # A sweep's parent run holds its trials' config.yaml and requirements; a trial
            # keeps its params (the whole config, flattened).
            tracker.log_config(run_id, cfg, as_file=parent_run_id is None)
            if parent_run_id is None:
                tracker.log_requirements(run_id)
            log_dataset(tracker, run_id, datamodule.data, root)
        timings["tracking_setup_s"], clock = time.perf_counter() - clock, time.perf_counter()
        bar = show_progress_bar(cfg)
        report = EpochReport(print_lines=not bar)
        checkpoint_dir = paths["checkpoint_dir"] / (run_id or "rank-nonzero")
        # No secret in a checkpoint or a model folder (a DVC output).
        config = mask_tree(OmegaConf.to_container(cfg, resolve=True))
        built = build_callbacks(cfg.get("callbacks"), checkpoint_dir, last_checkpoint)
        trainer: pl.Trainer = instantiate(
            cfg.trainer,
            where="trainer",
            callbacks=[
                *built,
                StopOnNonFinite(),
                RunState(config, checkpoint_dir),
                report,
                *callbacks,
            ],
            logger=build_loggers(cfg.get("logger"), tracker, run_id, root) if run_id else False,
            enable_progress_bar=bar,
            default_root_dir=str(checkpoint_dir),
        )
        ckpt_path = str(plan.checkpoint) if plan.mode == "continue" else None
        _fit(trainer, model, datamodule, ckpt_path)
        timings["fit_s"], clock = time.perf_counter() - clock, time.perf_counter()
        # A sweep trial exports no model: its best weights stay in best.ckpt, unread.
        best = restore_best(trainer, model) if outputs != "none" else best_path(trainer)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        if trainer.is_global_zero and run_id and outputs != "none":
            write_outputs(config, paths, model, datamodule, report.rows, run_id, tracker, outputs)
    timings["outputs_and_close_s"] = time.perf_counter() - clock
    timings["epoch_s"] = report.seconds
    link = None
    if run_id:
        from mbegu.summary import run_link

        link = run_link(tracker.tracking_uri, tracker.experiment_id(), run_id)
    return TrainResult(run_id, metrics, report.rows, best, timings, link)


def _fit(
    trainer: pl.Trainer, model: pl.LightningModule, datamodule: DataModule, ckpt_path: str | None
) -> None:
    """trainer.fit, with an interrupt kept an interrupt (exit_as_interrupt)."""
    with exit_as_interrupt():
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
