"""`mbegu sweep`: an Optuna study whose every trial is the same train(cfg) as the pipeline.

One coordinator per invocation: it opens (or reopens) the study and its parent MLflow run,
runs `sweep.workers` workers (in-process for one, else child processes on the same study),
then writes the best trial as a Hydra config and prints a summary. Running the same command
again continues the study until n_trials trials have finished in total.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mbegu.config.compose import compose, config_groups
from mbegu.errors import MbeguError, first_line
from mbegu.io import atomic_write_text
from mbegu.project import project_root
from mbegu.security import instantiate, mask_secrets, mask_tree
from mbegu.sweeps import storage as trials
from mbegu.sweeps.space import SearchSpace

STUDY_TAG, TRIAL_TAG, STATE_TAG = "mbegu.sweep.study", "mbegu.trial.number", "mbegu.trial.state"
UID_TAG, UID_ATTR = "mbegu.sweep.study_uid", "mbegu_uid"


def base_overrides(overrides: Sequence[str]) -> list[str]:
    """What every trial starts from: the command line minus the sweep's own settings."""
    return [o for o in overrides if not re.match(r"^[+~]?sweep([.=]|$)", o)]


def sweep_config(overrides: Sequence[str]) -> DictConfig:
    cfg = compose(overrides)
    if cfg.get("sweep") is None:
        options = ", ".join(config_groups().get("sweep", [])) or "none in conf/sweep/"
        raise MbeguError(f"no sweep chosen: add sweep=<name> (options: {options})")
    SearchSpace(cfg.sweep.params)  # a bad search space fails before anything starts
    return cfg


def sampler_config(sampler: DictConfig, worker: int, machines: bool = False) -> Any:
    """The sampler of worker `worker`: its seed offset by the worker index, and on a shared
    (RDB) storage also by this machine and process. Workers with one seed and the same
    history would propose the same params at the same time."""
    import socket
    import zlib

    node = OmegaConf.to_container(sampler, resolve=True)
    if isinstance(node, dict) and isinstance(node.get("seed"), int):
        node["seed"] += worker
        if machines:  # distinct per command on any machine; one machine's sweep stays seeded
            node["seed"] += zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 10**6
    return node


def open_study(cfg: DictConfig, worker: int = 0) -> tuple[Any, Any, str]:
    """(study, its storage, a printable description of where it lives)."""
    import optuna

    s = cfg.sweep
    tracker = instantiate(cfg.tracking, where="tracking")
    storage, where = trials.make_storage(
        s.storage,
        s.study_name,
        project_root(),
        heartbeat_interval=s.get("heartbeat_interval", 15),
        grace_period=s.get("grace_period", 60),
        on_stale=lambda trial: _close_dead_run(tracker, s, trial),
    )
    # Failed trials are reported by mbegu (one line each), not by Optuna's warnings.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    machines = trials.has_heartbeat(storage)
    study = optuna.create_study(
        study_name=s.study_name,
        storage=storage,
        direction=s.direction,
        sampler=instantiate(sampler_config(s.sampler, worker, machines), where="sweep.sampler"),
        pruner=instantiate(s.pruner, where="sweep.pruner"),
        load_if_exists=True,
    )
    if study.direction.name.lower() != s.direction:
        raise MbeguError(
            f"study '{s.study_name}' exists with direction "
            f"{study.direction.name.lower()}: use another sweep.study_name"
        )
    return study, storage, where


def study_uid(study: Any) -> str:
    """An id of this very study: a new study that reuses an old name gets a new parent run."""
    import uuid

    if UID_ATTR not in study.user_attrs:
        study.set_user_attr(UID_ATTR, uuid.uuid4().hex)
    return str(study.user_attrs[UID_ATTR])


def parent_run(tracker: Any, cfg: DictConfig, where: str, uid: str) -> str:
    """The study's one parent run: found by its tag on a rerun or from another machine.

    Two coordinators starting at once may both create one; both then keep the oldest.
    """
    client, name = tracker.client, cfg.sweep.study_name
    query = f"tags.`{UID_TAG}` = '{uid}' and tags.`mbegu.sweep.role` = 'parent'"

    def existing() -> list:
        return client.search_runs(
            [tracker.experiment_id()], filter_string=query, order_by=["attributes.start_time ASC"]
        )

    found = existing()
    if found:
        return found[0].info.run_id
    mine = tracker.start_run(
        {
            STUDY_TAG: name,
            UID_TAG: uid,
            "mbegu.sweep.role": "parent",
            "mbegu.sweep.storage": mask_secrets(where),
        },
        run_name=f"sweep-{name}",
    )
    oldest = existing()[0].info.run_id
    if oldest != mine:
        client.delete_run(mine)
    return oldest


def run_sweep(overrides: Sequence[str]) -> dict[str, Any]:
    """Coordinate a sweep; returns the summary it prints."""
    from mbegu.training.train import TERMINATED, sigterm_as_interrupt

    TERMINATED.clear()  # a new sweep in this process starts unsignalled
    cfg = sweep_config(overrides)
    s = cfg.sweep
    tracker = instantiate(cfg.tracking, where="tracking")
    tracker.check()
    study, storage, where = open_study(cfg)
    started = time.perf_counter()
    run_id = parent_run(tracker, cfg, where, study_uid(study))
    print(
        f"sweep '{s.study_name}': {s.n_trials} trials of {s.metric} ({s.direction}), "
        f"storage {mask_secrets(where)}, MLflow parent run {run_id}",
        flush=True,
    )
    with tracker.run(run_id), sigterm_as_interrupt():
        masked = mask_tree(OmegaConf.to_container(s, resolve=True))
        tracker.client.log_text(run_id, OmegaConf.to_yaml(masked), "sweep.yaml")
        for key in ("metric", "direction", "n_trials", "workers"):
            tracker.client.set_tag(run_id, f"mbegu.sweep.{key}", str(s[key]))
        trials.fail_dead_trials(study, storage, on_failed=lambda t: _close_dead_run(tracker, s, t))
        # This process is one worker; sweep.workers - 1 more join the study as children.
        children = _spawn_workers(overrides, run_id, s.workers - 1)
        interrupted: KeyboardInterrupt | None = None
        try:
            work(cfg, overrides, study, storage, run_id)
        except KeyboardInterrupt as err:
            interrupted = err
            # Ctrl-C reached the whole process group; SIGTERM only this process: pass it on.
            if "signal 15" in str(err):
                for child in children:
                    if child.poll() is None:
                        child.terminate()
        finally:
            _wait_workers(children, interrupted=interrupted is not None)
        summary = summarize(study, cfg, overrides, time.perf_counter() - started)
        _log_summary(tracker, run_id, study, cfg, summary)
        print(format_summary(summary), flush=True)
        if interrupted is not None:
            raise interrupted  # the parent run ends KILLED, with what was found so far
    return summary


def _trial_runs(tracker: Any, tags: dict[str, str]) -> list:
    """The MLflow run of one trial, found by its study and trial-number tags."""
    return tracker.client.search_runs(
        [tracker.experiment_id()],
        filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items()),
        max_results=1,
    )


def _close_dead_run(tracker: Any, s: DictConfig, trial: Any) -> None:
    """A trial whose worker died (SIGKILL, power loss) left its MLflow run RUNNING."""
    for run in _trial_runs(tracker, {STUDY_TAG: s.study_name, TRIAL_TAG: str(trial.number)}):
        if run.info.status == "RUNNING":
            tracker.client.set_tag(run.info.run_id, STATE_TAG, "failed")
            tracker.client.set_tag(run.info.run_id, "mbegu.error", "its worker died; retried")
            tracker.client.set_terminated(run.info.run_id, "KILLED")


def _spawn_workers(overrides: Sequence[str], parent: str, count: int) -> list[Any]:
    command = [sys.executable, "-m", "mbegu", "sweep", *overrides, "--parent-run-id", parent]
    return [subprocess.Popen([*command, "--worker", str(index)]) for index in range(1, count + 1)]


def _wait_workers(processes: list[Any], interrupted: bool = False) -> None:
    try:
        codes = [p.wait() for p in processes]
    except KeyboardInterrupt:  # they got the same Ctrl-C: let them close their trials
        for p in processes:
            if p.poll() is None:
                p.terminate()
            p.wait()
        raise
    if any(codes) and not interrupted:
        raise MbeguError(
            f"{sum(1 for c in codes if c)} of {len(codes)} extra sweep workers "
            f"failed (exit codes {codes}): see their output above; rerun to continue"
        )


class _Surplus(Exception):
    """This trial started after another worker took the last of n_trials: not counted."""


class _Failed(Exception):
    """The trial failed (reason recorded): it counts, and the sweep goes on."""


def work(cfg: DictConfig, overrides: Sequence[str], study: Any, storage: Any, parent: str) -> None:
    """One worker: Optuna's `study.optimize` until the study has n_trials that count, so
    Optuna's heartbeat keeps each trial alive on RDB storages and stale ones are retried."""
    import optuna

    space = SearchSpace(cfg.sweep.params)
    n_trials = cfg.sweep.n_trials
    tracker = instantiate(cfg.tracking, where="tracking")

    def fail_dead() -> None:
        trials.fail_dead_trials(study, storage, lambda t: _close_dead_run(tracker, cfg.sweep, t))

    from mbegu.training.train import TERMINATED

    def stop_if_terminated() -> None:
        # A SIGTERM whose KeyboardInterrupt was swallowed mid-trial still stops the sweep at
        # the next trial boundary.
        if TERMINATED.is_set():
            raise KeyboardInterrupt("signal 15")

    def objective(trial: Any) -> float:
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
        state, value = run_trial(cfg, overrides, trial, space, parent)
        if state == optuna.trial.TrialState.PRUNED:
            raise optuna.TrialPruned
        if value is None:
            raise _Failed
        return value

    # MaxTrialsCallback counts by state alone; here a trial failed by its dead worker does
    # not count (it is retried) while one that raised does.
    def enough(study: Any, trial: Any) -> None:
        stop_if_terminated()
        fail_dead()
        if trials.done(study) >= n_trials:
            study.stop()

    fail_dead()
    pause = cfg.sweep.get("heartbeat_interval", 15)
    patience = 3 * cfg.sweep.get("grace_period", 60)
    seen: set[int] = set()
    deadline = time.monotonic()
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
        time.sleep(pause)
        stop_if_terminated()
        fail_dead()


def run_trial(
    cfg: DictConfig, overrides: Sequence[str], trial: Any, space: SearchSpace, parent: str
) -> tuple[Any, float | None]:
    """Train one trial; returns (Optuna state, objective value)."""
    import optuna
    from optuna.trial import TrialState
    from optuna_integration import PyTorchLightningPruningCallback

    from mbegu.training.train import train

    s = cfg.sweep
    tags = {STUDY_TAG: s.study_name, TRIAL_TAG: str(trial.number)}
    tracker = instantiate(cfg.tracking, where="tracking")
    picked = space.suggest(trial)
    trial.set_user_attr("overrides", picked)
    print(f"trial {trial.number}: {' '.join(picked)}", flush=True)
    pruning = PyTorchLightningPruningCallback(trial, monitor=s.metric)
    try:
        trial_cfg = compose([*base_overrides(overrides), *picked])  # no sweep node
        result = train(
            trial_cfg,
            callbacks=[pruning],
            parent_run_id=parent,
            run_name=f"{s.study_name}-trial-{trial.number}",
            tags=tags,
            finish_on=(optuna.TrialPruned,),
            outputs="none",
        )
    except optuna.TrialPruned as pruned:
        reason = str(pruned).rstrip(".").replace("Trial was pruned", "pruned")
        _tag_trial(tracker, tags, parent, "pruned", reason)
        print(f"trial {trial.number}: {reason}", flush=True)
        return TrialState.PRUNED, None
    except Exception as err:  # NaN loss, a bad combination of params: record, go on
        reason = first_line(err)
        trial.set_user_attr(trials.ERROR, reason)
        _tag_trial(tracker, tags, parent, "failed", reason)
        print(f"trial {trial.number}: failed: {reason}", flush=True)
        return TrialState.FAIL, None
    values = [row[s.metric] for row in result.history if s.metric in row]
    if not values:
        reason = f"metric {s.metric} was never logged: set sweep.metric to e.g. val/acc"
        trial.set_user_attr(trials.ERROR, reason)
        _tag_trial(tracker, tags, parent, "failed", reason)
        return TrialState.FAIL, None
    value = max(values) if s.direction == "maximize" else min(values)
    _tag_trial(tracker, tags, parent, "complete", None)
    print(f"trial {trial.number}: {s.metric} {value:.4f}", flush=True)
    return TrialState.COMPLETE, value


def _tag_trial(
    tracker: Any, tags: dict[str, str], parent: str, state: str, reason: str | None
) -> None:
    """Tag the trial's run with its final state; a trial that failed before its run
    started still gets a (FAILED) run, so the parent's children match the study."""
    client = tracker.client
    found = _trial_runs(tracker, tags)
    if found:
        run_id = found[0].info.run_id
    else:
        run_id = tracker.start_run(
            tags, parent_run_id=parent, run_name=f"{tags[STUDY_TAG]}-trial-{tags[TRIAL_TAG]}"
        )
        client.set_terminated(run_id, "FAILED")
    client.set_tag(run_id, STATE_TAG, state)
    if reason:
        client.set_tag(run_id, "mbegu.error" if state == "failed" else "mbegu.stopped", reason)


def summarize(
    study: Any, cfg: DictConfig, overrides: Sequence[str], seconds: float
) -> dict[str, Any]:
    c = trials.counts(study)
    summary: dict[str, Any] = {
        "study": cfg.sweep.study_name,
        "metric": cfg.sweep.metric,
        "counts": c,
        "wall_s": round(seconds, 1),
    }
    try:
        best = study.best_trial
    except ValueError:
        return summary
    summary |= {
        "best_value": best.value,
        "best_trial": best.number,
        "best_overrides": best.user_attrs.get("overrides", []),
    }
    summary["best_config"] = str(write_best_config(cfg, overrides, best))
    return summary


def best_config_path(study_name: str, root: Path | None = None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", study_name).strip("_")
    return (root or project_root()) / "conf" / "experiment" / f"best_{safe}.yaml"


def write_best_config(cfg: DictConfig, overrides: Sequence[str], best: Any) -> Path:
    """The best trial as conf/experiment/best_<study>.yaml: the sweep's base overrides
    (group choices as defaults-list overrides) plus the trial's values."""
    groups, late = config_groups(), _groups_after_experiment()
    # Every group choice, conf/config.yaml's defaults included: retraining the file trains the
    # same data and model even after the defaults change.
    chosen: dict[str, str] = _default_choices()
    values, notes = [], []
    for override in [*base_overrides(overrides), *best.user_attrs["overrides"]]:
        key, _, value = mask_secrets(override).lstrip("+").partition("=")
        if key in late:  # an experiment cannot select these (they compose after it)
            notes.append(override)
        elif key in groups:
            chosen[key] = value
        else:
            values.append((key, value))
    defaults = [(k, v) for k, v in chosen.items() if k not in late and k != "experiment"]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    dotlist = {}
    for key, value in values:
        parsed = parser.parse_overrides([f"{key}={value}"])[0].value()
        dotlist[key] = parsed
    body = OmegaConf.to_yaml(_nest(dotlist)) if dotlist else ""
    header = (
        f"# @package _global_\n# Best trial {best.number} of study "
        f"'{cfg.sweep.study_name}': {cfg.sweep.metric} = {best.value:.6g}.\n"
        f"# Written by `mbegu sweep`. Retrain: mbegu train experiment=<this file's name>\n"
    )
    lines = [header]
    if notes:
        lines.append(f"# The trials also ran with: {' '.join(notes)} (add to the command line)\n")
    if defaults:
        lines.append("defaults:\n" + "".join(f"  - override /{k}: {v}\n" for k, v in defaults))
        lines.append("\n")
    lines.append(body)
    path = best_config_path(cfg.sweep.study_name)
    atomic_write_text(path, "".join(lines))
    return path


def _default_choices() -> dict[str, str]:
    """conf/config.yaml's group choices (group: option), in its order."""
    import yaml

    entries = yaml.safe_load((project_root() / "conf" / "config.yaml").read_text())["defaults"]
    pairs = [next(iter(e.items())) for e in entries if isinstance(e, dict)]
    return {str(k): str(v) for k, v in pairs if v is not None}


def _groups_after_experiment() -> set[str]:
    """Config groups listed after `experiment` in conf/config.yaml's defaults list."""
    import yaml

    entries = yaml.safe_load((project_root() / "conf" / "config.yaml").read_text())["defaults"]
    names = [next(iter(e)) if isinstance(e, dict) else e for e in entries]
    return set(names[names.index("experiment") + 1 :]) if "experiment" in names else set()


def _nest(dotlist: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dotlist.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _log_summary(
    tracker: Any, run_id: str, study: Any, cfg: DictConfig, summary: dict[str, Any]
) -> None:
    client = tracker.client
    metrics = {f"trials_{k.replace(' ', '_')}": v for k, v in summary["counts"].items()}
    if "best_value" in summary:
        metrics[f"best/{cfg.sweep.metric}"] = summary["best_value"]
        client.set_tag(run_id, "mbegu.sweep.best_trial", str(summary["best_trial"]))
        client.log_artifact(run_id, summary["best_config"], "best")
    tracker.log_metrics(run_id, metrics, step=len(study.trials))
    for path in _plots(study).values():
        client.log_artifact(run_id, str(path), "plots")
        path.unlink(missing_ok=True)


def _plots(study: Any) -> dict[str, Path]:
    """Optimisation history and parameter importances as PNGs (what enough trials allow)."""
    import tempfile
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as optuna_plots

    out: dict[str, Path] = {}
    if not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        return out
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="mbegu-sweep-"))
    for name, plot in (
        ("optimization_history", optuna_plots.plot_optimization_history),
        ("param_importances", optuna_plots.plot_param_importances),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # e.g. importances need two complete trials
        figure = getattr(axes, "figure", None) or plt.gcf()
        path = folder / f"{name}.png"
        figure.set_size_inches(7, 4.5)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        out[name] = path
    return out


def format_summary(summary: dict[str, Any]) -> str:
    c = summary["counts"]
    lines = [
        f"study {summary['study']}: {c['complete']} complete, {c['pruned']} pruned, "
        f"{c['failed']} failed ({c['not counted']} retried or interrupted), "
        f"{summary['wall_s']} s",
    ]
    if "best_value" in summary:
        lines += [
            f"best {summary['metric']}: {summary['best_value']:.4f} "
            f"(trial {summary['best_trial']})",
            f"best params: {' '.join(summary['best_overrides'])}",
            f"best config: {summary['best_config']}",
            f"retrain it: mbegu train experiment={Path(summary['best_config']).stem}  or  "
            f"dvc exp run -S experiment={Path(summary['best_config']).stem}",
        ]
    width = min(100, max(len(line) for line in lines))
    return "\n".join(["-" * width, *lines, "-" * width])


def run_worker(overrides: Sequence[str], parent: str, index: int = 1) -> None:
    """Child worker `index` of `sweep.workers > 1` (the coordinator is worker 0)."""
    from mbegu.training.train import sigterm_as_interrupt

    cfg = sweep_config(overrides)
    study, storage, _ = open_study(cfg, worker=index)
    with sigterm_as_interrupt():
        work(cfg, overrides, study, storage, parent)
