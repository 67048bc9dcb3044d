"""train(cfg): one function behind the DVC stage, `mbegu train` and every sweep trial."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from mbegu.processes import exit_as_interrupt, signals_deferred, sigterm_as_interrupt
from mbegu.project import project_root, resolve_paths
from mbegu.tracking.lineage import TAG_DATA_MD5, TAG_INIT_MD5
from mbegu.training.export import OUTPUTS, Outputs, best_path, restore_best, write_outputs
from mbegu.training.mlflow_run import log_dataset, log_profile, open_run, profile_into

if TYPE_CHECKING:
    import lightning.pytorch as pl

    from mbegu.data.datamodule import DataModule
    from mbegu.data.sources import FileData
    from mbegu.models.classifier import Classifier
    from mbegu.tracking.tracker import MlflowTracker
    from mbegu.training.callbacks import EpochReport
    from mbegu.training.resume import ResumePlan


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

    `outputs`: "pipeline" (the DVC train stage) writes artifacts/model, reports/history.csv and the
    run id for `evaluate`; "run" (ad hoc `mbegu train`) puts the model in `checkpoints/RUN_ID/model`
    and its run, not the pipeline's; "none" (a sweep trial) keeps the run and best.ckpt, unread.

    Args:
        cfg: The composed config; cfg.resume: start fresh, continue or fine-tune a run.
        callbacks: Lightning callbacks to run besides the config's and mbegu's.
        parent_run_id: A sweep's parent run, which holds the study's config.yaml and requirements.
        run_name: The run's name; None: cfg.tracking's, else the model, data and start time.
        tags: Tags the run is created with, besides its lineage and environment tags.
        finish_on: Exceptions that end the run FINISHED, not FAILED (a pruned sweep trial).
        outputs: Where the model goes: "pipeline", "run" or "none".
        tracker: The caller's, from cfg.tracking: one client and dead-run check per sweep worker.
        last_checkpoint: Write last.ckpt each epoch (a sweep trial is rerun, never continued).

    Returns:
        The run's id and link, the final and per-epoch metrics, the best checkpoint and timings.

    Raises:
        MbeguError: A misspelt option, unusable data or an unreachable server, before any run.
    """
    if outputs not in OUTPUTS:
        raise ValueError(f"outputs={outputs!r} is not one of {OUTPUTS}")
    timings: dict[str, float | list[float]] = {}
    clock = time.perf_counter()
    job = _configure(cfg, tracker)
    datamodule = _load_data(job)
    model = _build_model(job)
    timings["setup_s"], clock = time.perf_counter() - clock, time.perf_counter()

    # SIGTERM interrupts from before the run opens, else a run opened, not entered, stays RUNNING.
    with sigterm_as_interrupt(), ExitStack() as stack:
        _start_run(job, stack, datamodule.data, parent_run_id, run_name, tags, finish_on)
        timings["tracking_setup_s"], clock = time.perf_counter() - clock, time.perf_counter()
        trainer, report = _fit_model(job, model, datamodule, callbacks, last_checkpoint)
        timings["fit_s"], clock = time.perf_counter() - clock, time.perf_counter()
        best, metrics = _export(job, trainer, model, datamodule, report.rows, outputs)
    timings["outputs_and_close_s"] = time.perf_counter() - clock
    timings["epoch_s"] = report.seconds
    return TrainResult(job.run_id, metrics, report.rows, best, timings, _run_link(job))


@dataclass
class _Job:
    """What train()'s phases share: the config phase sets the first five fields."""

    cfg: DictConfig  # the data phase swaps in the sized config
    root: Path
    plan: ResumePlan
    paths: dict[str, Path]
    tracker: MlflowTracker
    run_id: str | None = None  # set by the run phase
    config: dict[str, Any] = field(default_factory=dict)  # fit: masked, for checkpoints and model
    init_md5: str | None = None  # model phase: the model.init_weights file's md5, tagged on the run


def _configure(cfg: DictConfig, tracker: MlflowTracker | None) -> _Job:
    """Config phase: the resume plan, the paths, the option checks and the tracker."""
    from mbegu.config.options import check_options
    from mbegu.logs import quiet_lightning
    from mbegu.security import instantiate
    from mbegu.training.resume import continued_config, plan_resume

    root = project_root()
    plan = plan_resume(cfg, resolve_paths(cfg, root)["checkpoint_dir"])
    if plan.mode == "continue":
        cfg = continued_config(plan, cfg)
    paths = resolve_paths(cfg, root)
    check_options(cfg, ("tracking",))
    if tracker is None:
        tracker = instantiate(cfg.tracking, where="tracking")
        tracker.check()  # an unreachable server fails now, not after the heavy imports
    quiet_lightning()
    check_options(cfg)  # a misspelt option is one line, before any run is opened
    return _Job(cfg, root, plan, paths, tracker)


def _load_data(job: _Job) -> DataModule:
    """Data phase: seeded first, so weights and batch order repeat; the config gets the sizes."""
    import lightning.pytorch as pl

    from mbegu.data.datamodule import build_datamodule
    from mbegu.models.build import with_data_sizes

    pl.seed_everything(job.cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(job.cfg, job.root)
    job.cfg = with_data_sizes(job.cfg, datamodule.data)  # what is logged says what was built
    return datamodule


def _build_model(job: _Job) -> Classifier:
    """Model phase: built from the sized config; started from model.init_weights if given.

    A fine-tune starts from its source's weights instead.
    """
    from mbegu.models.build import load_init_weights
    from mbegu.security import instantiate
    from mbegu.training.resume import load_weights

    model: Classifier = instantiate(job.cfg.model, where="model")
    if job.cfg.model.get("init_weights") and job.plan.mode == "fresh":
        job.init_md5 = load_init_weights(model.net, str(job.cfg.model.init_weights), job.root)
    if job.plan.mode == "finetune":  # continue: the weights of the checkpoint fit resumes
        load_weights(model, job.plan)
    return model


def _start_run(
    job: _Job,
    stack: ExitStack,
    data: FileData,
    parent_run_id: str | None,
    run_name: str | None,
    tags: dict[str, str] | None,
    finish_on: tuple[type[BaseException], ...],
) -> None:
    """Run phase: open the MLflow run (rank zero), enter it on `stack`, log a new run's inputs."""
    from lightning.pytorch.utilities import rank_zero_only

    with signals_deferred():  # a run created, not yet entered, would stay RUNNING for good
        run_id = job.plan.run_id if job.plan.mode == "continue" else None
        if rank_zero_only.rank == 0:  # type: ignore[attr-defined]  # set at import, untyped
            extra = {TAG_DATA_MD5: data.digest()} | (tags or {})
            if job.init_md5:  # which starting weights: the file may change under its name
                extra[TAG_INIT_MD5] = job.init_md5
            run_id = open_run(
                job.tracker, job.cfg, job.root, job.plan, parent_run_id, run_name, extra
            )
        if run_id:
            stack.enter_context(job.tracker.run(run_id, finish_on=finish_on))
    job.run_id = run_id
    # Inside the run from here, which ends as train() leaves; a signal held above ends it KILLED.
    if run_id and job.plan.mode != "continue":
        # A sweep's parent run holds config.yaml and requirements; a trial, its flattened params.
        job.tracker.log_config(run_id, job.cfg, as_file=parent_run_id is None)
        if parent_run_id is None:
            job.tracker.log_requirements(run_id)
        log_dataset(job.tracker, run_id, data, job.root)


def _fit_model(
    job: _Job,
    model: Classifier,
    datamodule: DataModule,
    callbacks: Sequence[pl.Callback],
    last_checkpoint: bool,
) -> tuple[pl.Trainer, EpochReport]:
    """Fit phase: cfg.trainer logging to the run; the config's, mbegu's and caller's callbacks."""
    from omegaconf import OmegaConf

    from mbegu.security import instantiate, mask_tree
    from mbegu.tracking.logger import build_loggers
    from mbegu.training.callbacks import (
        EpochReport,
        RunState,
        StopOnNonFinite,
        build_callbacks,
        show_progress_bar,
    )
    from mbegu.training.mlflow_run import system_metrics

    cfg, run_id = job.cfg, job.run_id
    bar = show_progress_bar(cfg)
    report = EpochReport(print_lines=not bar)
    checkpoint_dir = job.paths["checkpoint_dir"] / (run_id or "rank-nonzero")
    # No secret in a checkpoint or a model folder (a DVC output).
    job.config = mask_tree(OmegaConf.to_container(cfg, resolve=True))
    built = build_callbacks(cfg.get("callbacks"), checkpoint_dir, last_checkpoint)
    own = [StopOnNonFinite(), RunState(job.config, checkpoint_dir), report]
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        where="trainer",
        callbacks=[*built, *own, *callbacks],
        logger=build_loggers(cfg.get("logger"), job.tracker, run_id, job.root) if run_id else False,
        enable_progress_bar=bar,
        default_root_dir=str(checkpoint_dir),
    )
    profile_into(trainer, checkpoint_dir / "profile")
    ckpt_path = str(job.plan.checkpoint) if job.plan.mode == "continue" else None
    with exit_as_interrupt(), system_metrics(job.tracker, run_id):  # an interrupt stays one
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    log_profile(trainer, job.tracker, run_id)
    return trainer, report


def _export(
    job: _Job,
    trainer: pl.Trainer,
    model: Classifier,
    datamodule: DataModule,
    rows: list[dict[str, float]],
    outputs: Outputs,
) -> tuple[str | None, dict[str, float]]:
    """Export phase, in the run: best weights restored, model written; (best ckpt, metrics)."""
    # A sweep trial exports no model: its best weights stay in best.ckpt, unread.
    best = restore_best(trainer, model) if outputs != "none" else best_path(trainer)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if trainer.is_global_zero and job.run_id and outputs != "none":
        write_outputs(
            job.config, job.paths, model, datamodule, rows, job.run_id, job.tracker, outputs
        )
    return best, metrics


def _run_link(job: _Job) -> str | None:
    """The run's page in the MLflow UI, asked for once the run has ended."""
    if not job.run_id:
        return None
    from mbegu.summary import run_link

    return run_link(job.tracker.tracking_uri, job.tracker.experiment_id(), job.run_id)
