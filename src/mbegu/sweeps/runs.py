"""A sweep's MLflow runs: the study's one parent run and a run per trial.

Each is tagged with its study, number and final state; runs whose worker died are closed KILLED.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from omegaconf import DictConfig

from mbegu.security import mask_secrets
from mbegu.sweeps.storage import fail_dead_trials

if TYPE_CHECKING:
    import optuna
    from mlflow.entities import Run
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from mbegu.tracking.tracker import MlflowTracker

STUDY_TAG, TRIAL_TAG, STATE_TAG = "mbegu.sweep.study", "mbegu.trial.number", "mbegu.trial.state"
UID_TAG = "mbegu.sweep.study_uid"
FinalState = Literal["complete", "pruned", "failed"]  # a trial run's STATE_TAG
SETTLE_S = 0.5  # how long a new parent run waits for another coordinator's to be written


def _parents(tracker: MlflowTracker, uid: str) -> list[Run]:
    """The parent runs of the study `uid`, oldest first (the smaller run id on a tie)."""
    query = f"tags.`{UID_TAG}` = '{uid}' and tags.`mbegu.sweep.role` = 'parent'"
    runs = tracker.client.search_runs([tracker.experiment_id()], filter_string=query)
    return sorted(runs, key=lambda run: (run.info.start_time, run.info.run_id))


def finished_parent(tracker: MlflowTracker, uid: str) -> str | None:
    """The study's parent run if it has ended.

    A rerun with nothing left to run leaves it as it is (its status, tags and artifacts are that
    sweep's record).
    """
    found = _parents(tracker, uid)
    return found[0].info.run_id if found and found[0].info.status != "RUNNING" else None


def parent_run(tracker: MlflowTracker, cfg: DictConfig, where: str, uid: str) -> str:
    """The study's one parent run: found by its tag on a rerun or from another machine.

    Two coordinators starting at once may both create one; both then keep the oldest.
    """
    client, name = tracker.client, cfg.sweep.study_name
    found = _parents(tracker, uid)
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
    # MLflow has no compare-and-set: a coordinator that started in the same instant may not have
    # written its run yet. Looked for a moment later, every such run is there, and all of them
    # keep the same one.
    time.sleep(SETTLE_S)
    oldest = _parents(tracker, uid)[0].info.run_id
    if oldest != mine:
        client.delete_run(mine)
    return oldest


def trial_runs(tracker: MlflowTracker, tags: dict[str, str]) -> list[Run]:
    """The MLflow run of one trial, found by its study and trial-number tags."""
    return tracker.client.search_runs(
        [tracker.experiment_id()],
        filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items()),
        max_results=1,
    )


def close_dead_run(tracker: MlflowTracker, s: DictConfig, trial: FrozenTrial) -> None:
    """A trial whose worker died (SIGKILL, power loss) left its MLflow run RUNNING."""
    for run in trial_runs(tracker, {STUDY_TAG: s.study_name, TRIAL_TAG: str(trial.number)}):
        if run.info.status == "RUNNING":
            tracker.client.set_tag(run.info.run_id, STATE_TAG, "failed")
            tracker.client.set_tag(run.info.run_id, "mbegu.error", "its worker died; retried")
            tracker.client.set_terminated(run.info.run_id, "KILLED")


def fail_dead_workers(
    tracker: MlflowTracker, s: DictConfig, study: optuna.Study, storage: BaseStorage
) -> None:
    """Fail the RUNNING trials whose worker is gone (queued again), their MLflow runs closed."""
    fail_dead_trials(study, storage, lambda t: close_dead_run(tracker, s, t))


def tag_trial(
    tracker: MlflowTracker,
    tags: dict[str, str],
    parent: str,
    state: FinalState,
    reason: str | None,
    run_id: str | None = None,
) -> None:
    """Tag the trial's run (`run_id`, else found by its tags) with its final state.

    A trial that failed before its run started still gets a (FAILED) run, so the parent's children
    match the study.
    """
    from mlflow.entities import RunTag

    client = tracker.client
    if run_id is None:
        found = trial_runs(tracker, tags)
        if found:
            run_id = found[0].info.run_id
        else:
            run_id = tracker.start_run(
                tags, parent_run_id=parent, run_name=f"{tags[STUDY_TAG]}-trial-{tags[TRIAL_TAG]}"
            )
            client.set_terminated(run_id, "FAILED")
    final: dict[str, str] = {STATE_TAG: state}
    if reason:
        final["mbegu.error" if state == "failed" else "mbegu.stopped"] = reason
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in final.items()])
