"""Where a study lives, and which of its trials count.

Default: an Optuna journal file under sweeps/, shared safely by worker processes on one machine,
no server needed. Any RDB URL (postgresql://...) shares a study across machines; there,
heartbeats let a worker find trials whose worker died.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mbegu.errors import MbeguError, first_line
from mbegu.processes import alive
from mbegu.sweeps.journal import repair_torn_tail

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

StorageT = TypeVar("StorageT", bound="BaseStorage")

# What is called with each trial whose worker died (the sweep closes its MLflow run).
OnTrial = Callable[["FrozenTrial"], None]

HOST, PID = "mbegu_host", "mbegu_pid"
ERROR = "mbegu_error"  # a trial that raised: it counts as done and is not retried
RETRY_OF = "mbegu_retry_of"
SURPLUS = "mbegu_surplus"  # started by a worker racing past n_trials: not counted


def make_storage(
    url: str | None,
    study_name: str,
    root: Path,
    heartbeat_interval: int = 15,
    grace_period: int = 60,
    on_stale: OnTrial | None = None,
) -> tuple[BaseStorage, str]:
    """(Optuna storage, a printable description).

    On an RDB storage each running trial beats every `heartbeat_interval` seconds (Optuna's
    thread inside `study.optimize`); a trial silent for `grace_period` seconds is failed by
    the next worker that starts a trial, retried with the same params, and `on_stale(trial)`
    is called (the sweep closes the dead worker's MLflow run).
    """
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    from mbegu.security import inside, mask_secrets, safe_name

    if not url or url.endswith(".journal"):
        relative = url or f"sweeps/{safe_name(study_name, 'sweep.study_name')}.journal"
        path = inside(root, relative, "sweep.storage")
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(path)
        return _created_claimed(JournalStorage(JournalFileBackend(str(path)))), str(path)
    failure: Exception
    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryStale(on_stale),
                    engine_kwargs={"pool_pre_ping": True},
                )
            return _created_claimed(storage), mask_secrets(url)
        except ImportError as err:
            failure = err
            break
        except Exception as err:  # two machines creating the schema at once: try again
            failure = err
            time.sleep(1 + attempt)
    first = mask_secrets(first_line(failure, 200))
    raise MbeguError(
        f"cannot open sweep storage {mask_secrets(url)} ({first}): check sweep.storage, "
        f"the server and its driver (pip install 'psycopg[binary]' for PostgreSQL)"
    )


class RetryStale:
    """Optuna's RetryHeartbeatStaleTrialCallback, then `on_stale(trial)`."""

    def __init__(self, on_stale: OnTrial | None = None) -> None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        # Twice at most: a trial that kills every worker it runs on (out of memory) is not
        # rerun forever; after that it stays failed, uncounted, and new trials take its place.
        self.retry, self.on_stale = RetryHeartbeatStaleTrialCallback(max_retry=2), on_stale

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Retry the stale trial, then call `on_stale` on it."""
        self.retry(study, trial)
        if self.on_stale is not None:
            self.on_stale(trial)


def has_heartbeat(storage: BaseStorage) -> bool:
    """Whether the storage keeps Optuna's trial heartbeat (an RDB storage does, a journal not)."""
    from optuna.storages import RDBStorage

    return isinstance(storage, RDBStorage)


def _owner_attrs() -> dict[str, str | int]:
    return {HOST: socket.gethostname(), PID: os.getpid()}


def _created_claimed(storage: StorageT) -> StorageT:
    """Every new trial is written already marked as this process's.

    Optuna creates a trial RUNNING and only then calls the objective, which could claim it: a
    SIGTERM in between (Optuna's sampling runs there) left a RUNNING trial that no process
    owned, which the interrupted worker could not fail and a rerun waited for. Optuna has no
    hook there, but its storages create a trial from a template, which carries the claim.
    """
    from optuna.trial import TrialState, create_trial

    create = storage.create_new_trial

    def create_new_trial(study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            template_trial = create_trial(state=TrialState.RUNNING, user_attrs=_owner_attrs())
        return create(study_id, template_trial)

    storage.create_new_trial = create_new_trial  # type: ignore[method-assign]  # no hook there
    return storage


def claim(trial: optuna.Trial) -> None:
    """Mark a trial as run by this process, so a rerun can tell when its worker died.

    New trials are created claimed; a queued retry is claimed here, as it starts.
    """
    for key, value in _owner_attrs().items():
        if trial.user_attrs.get(key) != value:
            trial.set_user_attr(key, value)


def fail_dead_trials(
    study: optuna.Study, storage: BaseStorage, on_failed: OnTrial | None = None
) -> int:
    """Trials whose worker is gone: fail them and queue a retry with the same params.

    On an RDB storage (workers on several machines) Optuna's heartbeats find them
    (`fail_stale_trials`, which `study.optimize` also runs before each trial). A journal file
    has no heartbeats: there the RUNNING trials of processes on this machine that no longer
    exist are failed here. `on_failed(trial)` is called for each (the sweep closes its run).
    """
    from optuna.trial import TrialState

    if has_heartbeat(storage):
        from optuna.exceptions import ExperimentalWarning
        from optuna.storages import fail_stale_trials

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            fail_stale_trials(study)  # RetryStale retries and calls on_failed
        return 0
    host, failed = socket.gethostname(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get(HOST) == host and not alive(int(attrs.get(PID, -1))):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            if trial.params:
                study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
            if on_failed is not None:
                on_failed(trial)
            failed += 1
    return failed


def fail_own_trials(study: optuna.Study) -> None:
    """Fail this process's trials still RUNNING as it stops on Ctrl-C or SIGTERM.

    Optuna fails a trial whose objective is interrupted, but a signal landing in its own bookkeeping
    (after the objective returned, before the state is written) escapes with the trial RUNNING.
    """
    from optuna.trial import TrialState

    mine = _owner_attrs()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if all(trial.user_attrs.get(key) == value for key, value in mine.items()):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)


def counts(study: optuna.Study) -> dict[str, int]:
    """Trial counts: complete, pruned, failed (raised), running (live), not counted.

    Not counted: retried or surplus.
    """
    from optuna.trial import TrialState

    out = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "not counted": 0}
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(SURPLUS):
            out["not counted"] += 1
        elif trial.state == TrialState.COMPLETE:
            out["complete"] += 1
        elif trial.state == TrialState.PRUNED:
            out["pruned"] += 1
        elif trial.state == TrialState.FAIL and ERROR in trial.user_attrs:
            out["failed"] += 1
        elif trial.state == TrialState.RUNNING:
            out["running"] += 1
        elif trial.state == TrialState.WAITING:
            continue  # a queued retry: counts once a worker runs it
        else:
            out["not counted"] += 1  # failed by a dead worker or Ctrl-C: retried
    return out


def counted(trial: FrozenTrial) -> bool:
    """Does this trial count towards n_trials (finished, or running now)?"""
    from optuna.trial import TrialState

    if trial.user_attrs.get(SURPLUS):
        return False
    if trial.state == TrialState.FAIL:
        return ERROR in trial.user_attrs
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def finished(study: optuna.Study, n_trials: int) -> bool:
    """n_trials count and none is running or queued: nothing is left to run."""
    from optuna.trial import TrialState

    busy = (TrialState.RUNNING, TrialState.WAITING)
    return done(study) >= n_trials and not study.get_trials(deepcopy=False, states=busy)


def done(study: optuna.Study) -> int:
    """Trials that count towards n_trials: finished, and those in progress."""
    return sum(counted(t) for t in study.get_trials(deepcopy=False))
