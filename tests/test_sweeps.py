"""Optuna sweeps on tiny configs: pruning, resume to n_trials, parallel workers, failing
trials, a killed worker, and a best config that trains."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.exceptions import MlflowException
from optuna.trial import TrialState

from mbegu.config.compose import compose
from mbegu.errors import MbeguError
from mbegu.sweeps import storage as trials
from mbegu.sweeps.runner import run_sweep
from mbegu.sweeps.runs import STATE_TAG, TRIAL_TAG
from mbegu.sweeps.workers import Forked, Workers
from mbegu.tracking.store import close_dead_runs
from mbegu.training.train import train

from .helpers.cli import runs_of, start_cli
from .helpers.project import example

pytestmark = pytest.mark.usefixtures("no_running_runs")


def sweep_args(
    experiment: str, study: str, n_trials: int, *extra: str, epochs: int = 4
) -> list[str]:
    return [
        "sweep=default",
        "debug=fast",
        f"trainer.max_epochs={epochs}",
        f"tracking.experiment_name={experiment}",
        f"sweep.study_name={study}",
        f"sweep.n_trials={n_trials}",
        "sweep.pruner.n_startup_trials=2",
        "sweep.pruner.n_warmup_steps=1",
        "sweep.sampler.n_startup_trials=2",
        *extra,
    ]


def load(project: Path, study: str) -> optuna.Study:
    storage, _ = trials.make_storage(None, study, project)
    return optuna.load_study(study_name=study, storage=storage)


def children(client, experiment: str, parent: str) -> list:
    return [
        r for r in runs_of(client, experiment) if r.data.tags.get("mlflow.parentRunId") == parent
    ]


def parent_of(client, experiment: str):
    [parent] = [
        r for r in runs_of(client, experiment) if r.data.tags.get("mbegu.sweep.role") == "parent"
    ]
    return parent


@pytest.mark.slow
def test_six_trials_with_pruning(project, client, experiment) -> None:
    summary = run_sweep(sweep_args(experiment, "six", 6))

    study = load(project, "six")
    states = {t.number: t.state for t in study.trials}
    assert len(states) == 6
    assert set(states.values()) <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert summary["counts"]["complete"] + summary["counts"]["pruned"] == 6

    parent = parent_of(client, experiment)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best/val/f1_weighted"] == pytest.approx(study.best_value)
    nested = children(client, experiment, parent.info.run_id)
    assert len(nested) == 6
    by_number = {int(r.data.tags["mbegu.trial.number"]): r for r in nested}
    for number, state in states.items():
        run = by_number[number]
        assert run.info.status == "FINISHED"
        assert run.data.tags["mbegu.trial.state"] == state.name.lower()
        if state == TrialState.PRUNED:
            assert run.data.tags["mbegu.stopped"].startswith("pruned at epoch")
        # A trial can be fine-tuned from (its best checkpoint) but is never continued.
        saved = project / "checkpoints" / run.info.run_id
        assert (saved / "best.ckpt").is_file()
        assert not (saved / "last.ckpt").exists()
        # The environment: its tags on every trial, its requirements.txt once, on the parent.
        assert run.data.tags["mbegu.version.torch"] == parent.data.tags["mbegu.version.torch"]
        assert not client.list_artifacts(run.info.run_id, "environment")
        # The config: the trial's whole config as params, config.yaml only on the parent.
        trial = study.trials[number]
        assert float(run.data.params["model.optimizer.lr"]) == pytest.approx(
            trial.params["model.optimizer.lr"],
            rel=1e-5,  # overrides carry 6 digits
        )
        assert run.data.params["data.batch_size"] == str(trial.params["data.batch_size"])
        assert "config.yaml" not in {a.path for a in client.list_artifacts(run.info.run_id)}
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/optimization_history.png" in plots
    if sum(s == TrialState.COMPLETE for s in states.values()) >= 2:
        assert "plots/param_importances.png" in plots
    study_cfg = yaml.safe_load(
        Path(client.download_artifacts(parent.info.run_id, "config.yaml")).read_text()
    )
    assert study_cfg["sweep"]["n_trials"] == 6
    assert study_cfg["trainer"]["max_epochs"] == 4
    [frozen] = client.list_artifacts(parent.info.run_id, "environment")
    assert frozen.path == "environment/requirements.txt"

    best = Path(summary["best_config"])
    assert best == project / "conf" / "experiment" / "best_six.yaml"
    cfg = compose(["experiment=best_six", f"tracking.experiment_name={experiment}-best"])
    assert cfg.trainer.max_epochs == 4
    assert cfg.model.optimizer.lr == pytest.approx(study.best_params["model.optimizer.lr"])
    assert cfg.data.batch_size == study.best_params["data.batch_size"]
    result = train(cfg, outputs="none")
    assert result.metrics["val/acc"] > 0.5


@pytest.mark.slow
def test_rerun_continues_to_n_trials(project, client, experiment) -> None:
    run_sweep(sweep_args(experiment, "resumed", 3))
    run_sweep(sweep_args(experiment, "resumed", 6))
    study = load(project, "resumed")
    assert len(study.trials) == 6
    assert trials.done(study) == 6
    parent = parent_of(client, experiment)  # still one parent run for the study
    assert len(children(client, experiment, parent.info.run_id)) == 6


@pytest.mark.slow
@pytest.mark.parametrize(("start", "epochs"), [("fork", 10), ("spawn", 30)])
def test_two_workers_share_one_study(project, client, experiment, start: str, epochs) -> None:
    """Two workers, one study, forked or spawned; each worker's torch takes half the usable
    cores."""
    from mbegu.threads import usable_cores

    mbegu = Path(sys.executable).with_name("mbegu")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run(
        [
            str(mbegu),
            "sweep",
            # A forked worker starts at once; a spawned one imports for seconds first.
            *sweep_args(experiment, f"parallel-{start}", 6, "sweep.workers=2", epochs=epochs),
            f"sweep.worker_start={start}",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    study = load(project, f"parallel-{start}")
    counted = [t for t in study.trials if trials.counted(t)]
    assert len(counted) == 6
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    pids = {t.user_attrs[trials.PID] for t in counted}
    assert len(pids) == 2, "both workers ran trials"
    params = [tuple(sorted(t.params.items())) for t in counted]
    assert len(set(params)) == len(params), "two workers proposed the same params"
    parent = parent_of(client, experiment)
    nested = children(client, experiment, parent.info.run_id)
    assert sorted(int(r.data.tags["mbegu.trial.number"]) for r in nested) == sorted(
        t.number for t in counted
    )
    cores = usable_cores()
    budget = f"{max(1, cores // 2)} ({cores} usable cores / 2 processes)"
    assert {r.data.tags["mbegu.threads"] for r in nested} == {budget}


def test_failing_trial_is_recorded_and_the_sweep_goes_on(project, client, experiment) -> None:
    sweep_file = project / "conf" / "sweep" / "boom.yaml"
    sweep_file.write_text(
        (project / "conf" / "sweep" / "default.yaml")
        .read_text()
        .replace("data.batch_size: choice(32, 64, 128)", "data.batch_size: choice(0, 64)")
        .replace("  model.optimizer.lr: tag(log, interval(0.0003, 0.03))\n", "")
        .replace("  model.optimizer.weight_decay: tag(log, interval(0.000001, 0.001))\n", "")
        .replace("  model.net.dropout: interval(0.0, 0.5)\n", "")
        .replace("optuna.samplers.TPESampler", "optuna.samplers.RandomSampler")
        .replace("  n_startup_trials: 5\n", "", 1)
    )
    args = [a for a in sweep_args(experiment, "boom", 4) if "sampler" not in a]
    summary = run_sweep([a.replace("sweep=default", "sweep=boom") for a in args])
    counts = summary["counts"]
    assert counts["failed"] >= 1  # the seeded sampler picks batch_size=0 at least once ...
    assert counts["complete"] + counts["pruned"] >= 1  # ... and the sweep went on past it
    assert counts["failed"] + counts["complete"] + counts["pruned"] == 4
    study = load(project, "boom")
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert all(t.params["data.batch_size"] == 0 for t in failed)
    assert "data.batch_size must be at least 1" in failed[0].user_attrs[trials.ERROR]
    parent = parent_of(client, experiment)
    runs = {
        r.data.tags["mbegu.trial.state"]: r
        for r in children(client, experiment, parent.info.run_id)
    }
    assert runs["failed"].info.status == "FAILED"
    assert "must be at least 1" in runs["failed"].data.tags["mbegu.error"]


@pytest.mark.slow
def test_killed_worker_then_rerun_finishes(project, client, experiment) -> None:
    args = sweep_args(experiment, "killed", 3)
    process = start_cli("sweep", *args, cwd=project)
    for line in process.stdout:
        if line.startswith("epoch 2/") and "trial" not in line:
            started = load(project, "killed").trials
            if any(t.number == 1 for t in started):
                process.send_signal(signal.SIGKILL)
                break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    study = load(project, "killed")
    assert any(t.state == TrialState.RUNNING for t in study.trials)

    run_sweep(args)  # the same command again
    study = load(project, "killed")
    assert trials.done(study) == 3
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    assert [t for t in study.trials if trials.RETRY_OF in t.user_attrs]


def test_bad_search_space_is_one_line(project) -> None:
    with pytest.raises(MbeguError, match=r"no sweep chosen: add sweep=<name> \(options: default"):
        run_sweep(["debug=fast"])
    bad = project / "conf" / "sweep" / "bad.yaml"
    bad.write_text(
        (project / "conf" / "sweep" / "default.yaml")
        .read_text()
        .replace("choice(32, 64, 128)", "choice(32, 64")
    )
    with pytest.raises(MbeguError, match=r"sweep.params.data.batch_size=.*not Hydra sweep"):
        run_sweep(["sweep=bad"])


@pytest.mark.slow
def test_ctrl_c_leaves_study_and_runs_consistent(project, client, experiment) -> None:
    # Trials of up to 20 epochs: on a loaded machine the output is read late, and a 4-epoch
    # trial 1 could be over (the sweep even done) before the signal arrives.
    args = sweep_args(experiment, "interrupted", 4, epochs=20)
    process = start_cli("sweep", *args, cwd=project)
    in_trial_1 = False
    seen = []
    for line in process.stdout:
        seen.append(line)
        in_trial_1 = in_trial_1 or line.startswith("trial 1:")
        if in_trial_1 and line.startswith("epoch 2/"):
            process.send_signal(signal.SIGINT)
            break
    text = "".join(seen) + process.communicate(timeout=120)[0]
    assert process.returncode != 0, text[-6000:]
    study = load(project, "interrupted")
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    # The trial the signal cut: the last one begun (trial 1, or a later one where the output was
    # read late on a loaded machine); no trial begins after it.
    stopped = max(study.trials, key=lambda t: t.number)
    assert stopped.number >= 1
    assert stopped.state == TrialState.FAIL
    assert not trials.counted(stopped)  # a rerun runs it again
    parent = parent_of(client, experiment)
    assert parent.info.status == "KILLED"
    statuses = {
        r.data.tags["mbegu.trial.number"]: r.info.status
        for r in children(client, experiment, parent.info.run_id)
    }
    assert statuses[str(stopped.number)] == "KILLED"


@pytest.mark.slow
def test_sigterm_stops_every_worker_and_keeps_the_best(project, client, experiment) -> None:
    import psutil

    # Trials long enough that the second worker, seconds behind, joins before the end.
    args = sweep_args(experiment, "terminated", 12, "sweep.workers=2", epochs=20)
    process = start_cli("sweep", *args, cwd=project)
    # Signal mid-sweep, decided from the trials' MLflow runs (not from the output's timing;
    # not from the journal either, whose lock the polling would contend for): two trials
    # complete and one running, and both workers' trials begun (a worker starts seconds after
    # the coordinator, which may finish its first trials alone).
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        try:
            trial_runs = [r for r in runs_of(client, experiment) if TRIAL_TAG in r.data.tags]
        except MlflowException:  # the store is locked by the workers' writes: look again
            time.sleep(0.2)
            continue
        done = [r for r in trial_runs if r.data.tags.get(STATE_TAG) == "complete"]
        workers = {r.data.tags.get("mbegu.pid") for r in trial_runs}
        running = any(r.info.status == "RUNNING" for r in trial_runs)
        if len(done) >= 2 and running and len(workers) == 2:
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.2)
    try:
        text = process.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:  # kill the sweep, so no later test finds its store busy
        stuck = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
        for p in stuck:
            with contextlib.suppress(psutil.NoSuchProcess):  # it may end meanwhile
                p.send_signal(signal.SIGUSR2)  # each prints its threads' stacks
        time.sleep(3)
        for p in stuck:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        text = process.communicate()[0]
        close_dead_runs(client)  # one failure here, not one more in every later test's teardown
        pytest.fail(f"the sweep outlived SIGTERM by 120 s:\n{text[-12000:]}")
    assert process.returncode == 143, text[-3000:]
    study = load(project, "terminated")
    running = [t for t in study.trials if t.state == TrialState.RUNNING]
    assert not running, f"{[(t.number, t.user_attrs) for t in running]}\n{text[-6000:]}"
    pids = {t.user_attrs[trials.PID] for t in study.trials}
    assert len(pids) == 2, "both workers had started trials"
    assert not [pid for pid in pids if psutil.pid_exists(pid)], "a worker outlived SIGTERM"
    assert len(study.trials) < 12, text[-4000:]
    best = project / "conf" / "experiment" / "best_terminated.yaml"
    assert best.is_file(), text[-3000:]
    assert f"val/f1_weighted = {study.best_value:.6g}" in best.read_text()
    assert parent_of(client, experiment).info.status == "KILLED"


def _worker(seconds: float, sigterm: str = "signal.SIG_DFL") -> subprocess.Popen[str]:
    """A stand-in worker: lives `seconds`, with SIGTERM handled as `sigterm` says."""
    code = (
        f"import signal, time; signal.signal(signal.SIGTERM, {sigterm}); "
        f"print('ready', flush=True); time.sleep({seconds})"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    return process


def test_a_stopped_sweep_kills_a_worker_deaf_to_sigterm_after_the_grace(capsys) -> None:
    # Deaf: stuck in native code, Python never runs its handler; SIG_IGN stands in for that.
    deaf_process, obeying = _worker(60, "signal.SIG_IGN"), _worker(60)
    deaf = Forked(deaf_process.pid)  # the forked kind, reaped by os.waitpid
    workers = Workers([], 0)
    workers.processes += [deaf, obeying]
    workers.terminate()
    started = time.monotonic()
    workers.wait(interrupted=True, grace=1)
    deaf_process.returncode = deaf.returncode  # reaped above: Popen must not wait again
    assert time.monotonic() - started < 30
    assert deaf.returncode == -signal.SIGKILL
    assert obeying.returncode == -signal.SIGTERM
    out = capsys.readouterr().out
    assert f"sweep worker {deaf.pid} still running 1 s after the stop: killed" in out
    assert str(obeying.pid) not in out


def test_a_running_sweep_waits_for_its_workers_past_the_grace(capsys) -> None:
    slow = _worker(2, "signal.SIG_IGN")
    workers = Workers([], 0)
    workers.processes.append(slow)
    workers.wait(grace=0.5)  # not interrupted: the worker's trials run to their end
    assert slow.returncode == 0
    assert "killed" not in capsys.readouterr().out


@pytest.mark.slow
def test_a_new_study_with_an_old_name_gets_its_own_parent(project, client, experiment) -> None:
    args = sweep_args(experiment, "reused", 2)
    run_sweep(args)
    [old] = [r for r in runs_of(client, experiment) if r.data.tags.get("mbegu.sweep.role")]
    (project / "sweeps" / "reused.journal").unlink()  # the study is gone, its runs are not
    run_sweep(args)
    parents = [r for r in runs_of(client, experiment) if r.data.tags.get("mbegu.sweep.role")]
    assert len(parents) == 2
    [new] = [p for p in parents if p.info.run_id != old.info.run_id]
    assert new.data.tags["mbegu.sweep.study_uid"] != old.data.tags["mbegu.sweep.study_uid"]
    again = client.get_run(old.info.run_id)
    assert again.data.metrics == old.data.metrics  # the old parent was not re-marked
    assert again.info.end_time == old.info.end_time
    assert len(children(client, experiment, new.info.run_id)) == 2


def test_a_new_trial_is_claimed_when_it_is_created(project) -> None:
    """A signal between Optuna creating a trial and the objective starting must not leave a
    RUNNING trial that no process owns (the interrupted worker fails only its own)."""
    import os

    storage, _ = trials.make_storage(None, "claimed", project)
    study = optuna.create_study(study_name="claimed", storage=storage)
    trial = study.ask()  # no objective has run
    assert study.trials[0].state == TrialState.RUNNING
    assert study.trials[0].user_attrs[trials.PID] == os.getpid()
    trials.fail_own_trials(study)
    assert study.trials[0].state == TrialState.FAIL
    study.enqueue_trial({"x": 1.0})  # a queued trial is claimed by whoever pops it
    popped = study.ask()
    assert trials.PID not in popped.user_attrs
    trials.claim(popped)
    assert study.trials[popped.number].user_attrs[trials.PID] == os.getpid()
    assert trial.number != popped.number


PLOTS_WITHOUT_SKLEARN = """
import json, sys
import optuna
from mbegu.sweeps.report import _plots

optuna.logging.set_verbosity(optuna.logging.ERROR)
study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2 + t.suggest_float("y", -1, 1), 8)
drawn = _plots(study)
hidden = "sklearn" in sys.modules
import sklearn  # afterwards it imports as usual
print(json.dumps({"drawn": sorted(drawn), "png": all(p.read_bytes()[:4] == b"\\x89PNG"
      for p in drawn.values()), "sklearn_during_plots": hidden}))
"""


@pytest.mark.slow
def test_importance_plot_needs_no_scikit_learn_import() -> None:
    """optuna.importance would import scikit-learn for evaluators the plots do not use: in a
    fresh process, both plots are drawn without it, and it still imports afterwards."""
    out = subprocess.run(
        [sys.executable, "-c", PLOTS_WITHOUT_SKLEARN], capture_output=True, text=True, check=True
    )
    result = yaml.safe_load(out.stdout.strip().splitlines()[-1])
    assert result == {
        "drawn": ["optimization_history", "param_importances"],
        "png": True,
        "sklearn_during_plots": False,
    }


def test_a_choice_of_lists_is_searched() -> None:
    """Optuna's categorical values must be hashable scalars: a choice of widths is searched as
    its Hydra text, and the trial's override composes back into the list."""
    from mbegu.sweeps.space import SearchSpace

    space = SearchSpace({"model.net.hidden_sizes": "choice([64], [128,64])"})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        [override] = space.suggest(trial)
        seen.add(override)
        study.tell(trial, 0.0)
    assert seen == {"model.net.hidden_sizes=[64]", "model.net.hidden_sizes=[128,64]"}
    cfg = compose(["model.net.hidden_sizes=[128,64]"], root=example())
    assert list(cfg.model.net.hidden_sizes) == [128, 64]
