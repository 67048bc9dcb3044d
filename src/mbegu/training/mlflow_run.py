"""The MLflow run a fit logs to: the continued run, or a new one tagged with what made it.

The data it reads is recorded as the run's dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from mbegu.tracking.lineage import environment_tags, lineage_tags
from mbegu.tracking.lineage import run_name as default_run_name

if TYPE_CHECKING:
    from pathlib import Path

    import lightning.pytorch as pl
    from lightning.pytorch.profilers import Profiler
    from omegaconf import DictConfig

    from mbegu.data.sources import FileData
    from mbegu.tracking.tracker import MlflowTracker
    from mbegu.training.resume import ResumePlan


def open_run(
    tracker: MlflowTracker,
    cfg: DictConfig,
    root: Path,
    plan: ResumePlan,
    parent_run_id: str | None,
    run_name: str | None,
    extra_tags: dict[str, str],
) -> str:
    """The MLflow run this fit logs to: the continued one, or a new one with lineage tags."""
    if plan.mode == "continue":
        run_id, checkpoint = plan.source()
        tracker.require_run(run_id)
        tracker.client.set_tag(run_id, "mbegu.resumed_from", checkpoint.name)
        print(f"MLflow run {run_id} continues from {checkpoint}", flush=True)
        return run_id
    target = cfg.model.net.get("_target_")
    # The environment's tags go with the run's creation: one store write fewer per run.
    tags = lineage_tags(root, target) | environment_tags(root) | extra_tags
    if plan.mode == "finetune":
        tags |= {"mbegu.finetuned_from": plan.source()[0], "mbegu.resume.mode": "finetune"}
    name = run_name or tracker.run_name or default_run_name(target, str(cfg.data.name))
    run_id = tracker.start_run(tags, parent_run_id=parent_run_id, run_name=name)
    print(f"MLflow run {run_id} (experiment '{tracker.experiment_name}')", flush=True)
    return run_id


def log_dataset(tracker: MlflowTracker, run_id: str, data: FileData, root: Path) -> None:
    """The data as the run's MLflow dataset: the md5 of its files is the version."""
    paths = [p.relative_to(root).as_posix() for p in data.source_paths()]
    from mbegu.data.prepared import split_rows
    from mbegu.data.split import SPLITS

    rows = sum(split_rows(data.frames, split) for split in SPLITS)
    tracker.log_dataset(run_id, data.name, data.digest(), ", ".join(paths), rows)


@contextmanager
def system_metrics(tracker: MlflowTracker, run_id: str | None) -> Iterator[None]:
    """MLflow's system metrics monitor for the run while the block runs (`tracking.system_metrics`).

    A thread samples CPU, memory, disk and network usage every `tracking.system_metrics_interval`
    seconds and logs them as `system/...` metrics; it is stopped however the block ends. Rank zero
    only: one machine's figures once, not once per process. A continued run's system metrics go
    on from their last step.

    Args:
        tracker: The run's tracker; its `system_metrics` option says whether to monitor.
        run_id: The run; None (a rank other than zero's new run): no monitor.

    Yields:
        Nothing: the monitor runs until the block ends.
    """
    from lightning.pytorch.utilities import rank_zero_only

    rank = rank_zero_only.rank  # type: ignore[attr-defined]  # set at import, untyped
    if not tracker.system_metrics or not run_id or rank != 0:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(
        run_id,
        sampling_interval=tracker.system_metrics_interval,
        samples_before_logging=1,
        resume_logging=True,  # step 0 for a new run
        tracking_uri=tracker.tracking_uri,
    )
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()  # joins the thread and flushes what it sampled


def _profiler(trainer: pl.Trainer) -> Profiler | None:
    # Lightning sets Trainer.profiler in a connector without declaring it on the class.
    return cast("Profiler | None", vars(trainer).get("profiler"))


def profile_into(trainer: pl.Trainer, folder: Path) -> None:
    """Point a configured profiler (`debug=profile`) at the run's own folder.

    Lightning's profilers append to `<dirpath>/fit-<filename>.txt`: one shared folder would
    mix the reports of every run.
    """
    profiler = _profiler(trainer)
    if profiler is not None and profiler.filename:
        profiler.dirpath = folder


def log_profile(trainer: pl.Trainer, tracker: MlflowTracker, run_id: str | None) -> None:
    """Log the profiler's report (`debug=profile`) to the run, under profile/.

    Lightning writes the report when fit tears down, after every callback hook, so this runs
    once `trainer.fit` has returned.
    """
    profiler = _profiler(trainer)
    if not run_id or profiler is None or not profiler.filename or not profiler.dirpath:
        return
    name, folder = profiler.filename, profiler.dirpath
    import os
    from pathlib import Path

    for report in sorted(Path(folder).glob(f"*{name}*.txt")):
        tracker.client.log_artifact(run_id, str(report), "profile")
        print(f"profile: {os.path.relpath(report)} (and in the run's artifacts, profile/)")
