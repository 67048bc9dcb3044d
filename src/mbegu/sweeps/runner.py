"""`mbegu sweep`: an Optuna study whose every trial is the same train(cfg) as the pipeline.

One coordinator per invocation: it opens (or reopens) the study and its parent MLflow run,
runs `sweep.workers` workers (in-process for one, else child processes on the same study),
then writes the best trial as a Hydra config and prints a summary. Running the same command
again continues the study until n_trials trials have finished in total. This module runs the
coordinator and each worker's loop; the extra processes (workers.py), one trial (trial.py), the
study (study.py), the MLflow runs (runs.py), the best config (best.py) and the summary
(report.py) live beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from mbegu.config.compose import Composer
from mbegu.security import instantiate, mask_secrets
from mbegu.sweeps import storage as trials
from mbegu.sweeps.report import format_summary, log_summary, summarize
from mbegu.sweeps.runs import fail_dead_workers, finished_parent, parent_run
from mbegu.sweeps.space import SearchSpace
from mbegu.sweeps.study import base_overrides, open_study, study_uid, sweep_config
from mbegu.sweeps.trial import run_trial
from mbegu.sweeps.workers import Workers, import_trial_modules
from mbegu.threads import budget_for

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from mbegu.tracking.tracker import MlflowTracker


def run_sweep(overrides: Sequence[str]) -> dict[str, Any]:
    """Coordinate a sweep: open the study and its parent run, run the workers, report.

    Args:
        overrides: Hydra overrides for conf/, the sweep's among them (`sweep=...`).

    Returns:
        The summary it prints: trial counts, the best trial's value and params, the best config.

    Raises:
        MbeguError: A bad sweep config, an unreachable store, or a study that cannot be opened.
    """
    from mlflow.entities import RunTag

    from mbegu.processes import INTERRUPTED, TERMINATED, sigterm_as_interrupt
    from mbegu.project import project_root
    from mbegu.tracking.lineage import environment_tags

    TERMINATED.clear()  # a new sweep in this process starts unsignalled
    INTERRUPTED.clear()
    started = time.perf_counter()
    cfg = sweep_config(overrides)
    s = cfg.sweep
    # sweep.workers - 1 more workers: started now, they wait for the parent run (workers.py).
    children = Workers(overrides, s.workers - 1, s.get("worker_start", "auto"))
    try:
        budget_for(cfg)  # this process is one of sweep.workers
        tracker: MlflowTracker = instantiate(cfg.tracking, where="tracking")
        tracker.check()
        study, storage, where = open_study(cfg)
        ended = finished_parent(tracker, study_uid(study))
        if ended and trials.finished(study, s.n_trials):  # a finished sweep's record stays
            children.abandon()
            children.wait()
            print(
                f"sweep '{s.study_name}' has its {s.n_trials} trials; parent run {ended} unchanged"
            )
            summary = summarize(study, cfg, overrides, time.perf_counter() - started)
            print(format_summary(summary), flush=True)
            return summary
        run_id = parent_run(tracker, cfg, where, study_uid(study))
    except BaseException:
        children.abandon()  # they exit without a trial
        children.wait(interrupted=True)
        raise
    print(
        f"sweep '{s.study_name}': {s.n_trials} trials of {s.metric} ({s.direction}), "
        f"storage {mask_secrets(where)}, MLflow parent run {run_id}",
        flush=True,
    )
    with tracker.run(run_id), sigterm_as_interrupt():
        # The study's config, every trial's starting point (trials log only their params).
        tracker.log_config(run_id, cfg, as_params=False)
        tracker.log_requirements(run_id)  # once for all the study's trials
        settings = {f"mbegu.sweep.{k}": str(s[k]) for k in ("metric", "direction", "n_trials")}
        settings |= {"mbegu.sweep.workers": str(s.workers)} | environment_tags(project_root())
        tracker.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in settings.items()])
        fail_dead_workers(tracker, s, study, storage)
        # This process is one worker; the others join the study now that it and its run exist.
        children.go(run_id)
        interrupted: KeyboardInterrupt | None = None
        try:
            work(cfg, overrides, study, storage, run_id)
        except KeyboardInterrupt as err:
            interrupted = err
            # Ctrl-C reached the whole process group; SIGTERM only this process: pass it on.
            if "signal 15" in str(err):
                children.terminate()
        finally:
            children.wait(interrupted=interrupted is not None)
            if interrupted is not None:  # a worker killed there left its trial RUNNING
                fail_dead_workers(tracker, s, study, storage)
        summary = summarize(study, cfg, overrides, time.perf_counter() - started)
        log_summary(tracker, run_id, study, cfg, summary)
        print(format_summary(summary), flush=True)
        if interrupted is not None:
            raise interrupted  # the parent run ends KILLED, with what was found so far
    return summary


class _Surplus(Exception):
    """This trial started after another worker took the last of n_trials: not counted."""


class _Failed(Exception):
    """The trial failed (reason recorded): it counts, and the sweep goes on."""


def work(
    cfg: DictConfig,
    overrides: Sequence[str],
    study: optuna.Study,
    storage: BaseStorage,
    parent: str,
) -> None:
    """One worker: Optuna's `study.optimize` until the study has n_trials that count.

    So Optuna's heartbeat keeps each trial alive on RDB storages and stale ones are retried.

    Args:
        cfg: The sweep's composed config (its `sweep` node included).
        overrides: The command's overrides, each trial's base.
        study: The opened study.
        storage: The study's storage, where dead workers' trials are failed.
        parent: The sweep's parent MLflow run, which the trials' runs nest under.
    """
    import optuna

    space = SearchSpace(cfg.sweep.params)
    composer = Composer(base_overrides(overrides))  # no sweep node
    n_trials = cfg.sweep.n_trials
    tracker: MlflowTracker = instantiate(cfg.tracking, where="tracking")

    def fail_dead() -> None:
        fail_dead_workers(tracker, cfg.sweep, study, storage)

    from mbegu.processes import INTERRUPTED, TERMINATED, collect_between_trials, freeze_imports

    import_trial_modules()
    freeze_imports()

    def stop_if_terminated() -> None:
        # A SIGTERM or Ctrl-C whose KeyboardInterrupt was swallowed stops it between trials.
        if TERMINATED.is_set():
            raise KeyboardInterrupt("signal 15")
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt

    def objective(trial: optuna.Trial) -> float:
        stop_if_terminated()
        trials.claim(trial)
        earlier = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.number < trial.number and trials.counted(t)
        ]
        if len(earlier) >= n_trials:  # another worker took the last slot first
            trial.set_user_attr(trials.SURPLUS, True)
            study.stop()
            raise _Surplus
        state, value = run_trial(cfg, composer, trial, space, parent, tracker)
        if state == optuna.trial.TrialState.PRUNED:
            raise optuna.TrialPruned
        if value is None:
            raise _Failed
        return value

    # MaxTrialsCallback counts by state alone; here a trial failed by its dead worker does
    # not count (it is retried) while one that raised does.
    def enough(study: optuna.Study, trial: FrozenTrial) -> None:
        collect_between_trials()
        stop_if_terminated()
        fail_dead()
        if trials.done(study) >= n_trials:
            study.stop()

    fail_dead()
    try:
        _optimize_until_done(cfg, study, objective, enough, stop_if_terminated, fail_dead)
    except (KeyboardInterrupt, SystemExit):  # Optuna does not catch SystemExit at all
        from mbegu.processes import signals_deferred

        with signals_deferred():
            trials.fail_own_trials(study)
        raise
    except Exception as err:  # e.g. Optuna's journal lock, cut by the interrupt mid-release
        from mbegu.processes import interrupt_behind, signals_deferred

        interrupt = interrupt_behind(err)
        if interrupt is None:
            raise
        with signals_deferred():
            trials.fail_own_trials(study)
        raise KeyboardInterrupt(*interrupt.args) from None


def _optimize_until_done(
    cfg: DictConfig,
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    enough: Callable[[optuna.Study, FrozenTrial], None],
    stop_if_terminated: Callable[[], None],
    fail_dead: Callable[[], None],
) -> None:
    """study.optimize until n_trials count, then wait (bounded) for other machines' trials."""
    import optuna

    n_trials = cfg.sweep.n_trials
    pause = cfg.sweep.get("heartbeat_interval", 15)
    patience = 3 * cfg.sweep.get("grace_period", 60)
    seen: set[int] = set()
    deadline = checked = time.monotonic()
    while True:
        if trials.done(study) < n_trials:
            study.optimize(
                objective, callbacks=[enough], catch=(_Surplus, _Failed), gc_after_trial=False
            )
        # Other workers' trials still running may belong to a dead machine: once their
        # heartbeat is stale they are failed and queued again, and this worker reruns them.
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        numbers = {t.number for t in running}
        if not numbers:
            return
        if numbers != seen:
            seen, deadline = numbers, time.monotonic() + patience
        elif time.monotonic() > deadline:  # e.g. a trial with no heartbeat at all
            shown = ", ".join(map(str, sorted(numbers)))
            print(f"trials {shown} still RUNNING elsewhere: this worker stops waiting", flush=True)
            return
        # Another worker's last trial ends any moment: look often, fail stale ones per beat.
        time.sleep(min(pause, 0.2))
        stop_if_terminated()
        if time.monotonic() - checked >= pause:
            checked = time.monotonic()
            fail_dead()


def run_worker(overrides: Sequence[str], parent: str, index: int = 1) -> None:
    """Child worker `index` of `sweep.workers > 1` (the coordinator is worker 0).

    Args:
        overrides: The coordinator's overrides.
        parent: The sweep's parent MLflow run.
        index: The worker's number, which offsets its sampler's seed.
    """
    from mbegu.processes import sigterm_as_interrupt

    cfg = sweep_config(overrides)
    budget_for(cfg)
    study, storage, _ = open_study(cfg, worker=index)
    with sigterm_as_interrupt():
        work(cfg, overrides, study, storage, parent)
