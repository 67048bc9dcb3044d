"""A study on PostgreSQL shared by two independent `mbegu sweep` commands, as two machines
would share it. Needs a server: .ci/run starts one on 127.0.0.1 and sets the URL."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import optuna
import pytest

from mbegu.sweeps import storage as trials

from .helpers.cli import run_cli, runs_of, start_cli
from .test_sweeps import children, parent_of, sweep_args

URL = os.environ.get("MBEGU_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.skipif(not URL, reason="MBEGU_TEST_POSTGRES_URL unset (.ci/run starts a server)"),
    pytest.mark.usefixtures("no_running_runs"),
]


SECRET = "s3cretPW-9f2"


def with_password(url: str) -> str:
    """The server trusts loopback, so any password works: one that must never be stored."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}"


def test_two_commands_share_a_postgres_study(project, client, experiment, tracking_uri) -> None:
    study_name = f"pg-{uuid.uuid4().hex[:8]}"
    args = sweep_args(experiment, study_name, 6, f"sweep.storage={with_password(URL)}")
    # Both "machines" start at once: a second one started after the first's first trial took
    # its imports' time (8 s here) to join, by which time a fast first had run every trial.
    first = start_cli("sweep", *args, cwd=project)
    second = start_cli("sweep", *args, cwd=project)
    outputs = [first.communicate(timeout=600)[0], second.communicate(timeout=600)[0]]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(o[-2000:] for o in outputs)

    study = optuna.load_study(study_name=study_name, storage=URL)
    counted = [t for t in study.trials if trials.counted(t)]
    assert len(counted) == 6, [(t.number, t.state.name) for t in study.trials]
    assert len({t.number for t in study.trials}) == len(study.trials)
    assert len({t.user_attrs[trials.PID] for t in counted}) == 2, "both commands ran trials"
    parent = parent_of(client, experiment)
    nested = children(client, experiment, parent.info.run_id)
    assert sorted(int(r.data.tags["mbegu.trial.number"]) for r in nested) == sorted(
        t.number for t in counted
    )
    # The password is in neither output, nor the store, nor any artifact or project file.
    assert SECRET not in "".join(outputs)
    assert "mbegu:***@" in "".join(outputs)
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    for path in [db, *db.parent.rglob("*"), *project.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    command = nested[0].data.tags["mbegu.command"]
    assert "sweep.storage=postgresql://mbegu:***@" in command


def test_a_dead_machine_s_trial_is_retried_after_its_heartbeat_stops(
    project, client, experiment
) -> None:
    """SIGKILL one command mid-trial (a machine that dies: no cleanup at all). Its trial
    stays RUNNING until its heartbeat is `grace_period` old; the next command to start a
    trial fails it and reruns its params, and the study ends with exactly n_trials."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    study_name = f"pg-{uuid.uuid4().hex[:8]}"
    args = sweep_args(
        experiment,
        study_name,
        4,
        f"sweep.storage={URL}",
        "sweep.heartbeat_interval=1",
        "sweep.grace_period=3",
        "trainer.max_epochs=6",
        "sweep.pruner.n_startup_trials=10",  # no pruning: the count below is exact
    )
    victim = start_cli("sweep", *args, cwd=project)
    for line in victim.stdout:
        if line.startswith("epoch 2/"):  # mid-trial, its run open, its heartbeat beating
            break
    victim.kill()
    victim.wait(timeout=30)
    [dead] = [t for t in load_rdb(study_name).trials if t.state == TrialState.RUNNING]
    time.sleep(3.5)  # its heartbeat is now older than the grace period

    survivor = run_cli("sweep", *args, cwd=project)  # another machine, or the same command again
    assert survivor.returncode == 0, survivor.stdout[-2000:] + survivor.stderr[-2000:]
    study = load_rdb(study_name)
    assert study.trials[dead.number].state == TrialState.FAIL
    [retry] = [
        t
        for t in study.trials
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == dead.number
    ]
    assert retry.params == dead.params and retry.state == TrialState.COMPLETE
    counted = [t for t in study.trials if trials.counted(t)]
    assert len(counted) == 4 and all(t.state == TrialState.COMPLETE for t in counted)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    assert len({tuple(sorted(t.params.items())) for t in counted}) == 4, "duplicate params"
    # The dead worker's MLflow run did not stay RUNNING (no_running_runs checks every run).
    runs = {
        r.data.tags.get("mbegu.trial.number"): r.info.status for r in runs_of(client, experiment)
    }
    assert runs[str(dead.number)] == "KILLED"
    assert runs[str(retry.number)] == "FINISHED"


def load_rdb(study_name: str) -> optuna.Study:
    return optuna.load_study(study_name=study_name, storage=URL)
