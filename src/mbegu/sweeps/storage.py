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
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError, first_line
from mbegu.processes import alive

HOST, PID = "mbegu_host", "mbegu_pid"
ERROR = "mbegu_error"  # a trial that raised: it counts as done and is not retried
RETRY_OF = "mbegu_retry_of"
SURPLUS = "mbegu_surplus"  # started by a worker racing past n_trials: not counted


def make_storage(url: str | None, study_name: str, root: Path) -> tuple[Any, str]:
    """(Optuna storage, a printable description)."""
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    from mbegu.security import inside, mask_secrets, safe_name

    if not url or url.endswith(".journal"):
        relative = url or f"sweeps/{safe_name(study_name, 'sweep.study_name')}.journal"
        path = inside(root, relative, "sweep.storage")
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path))), str(path)
    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.8
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RDBStorage(
                    url,
                    heartbeat_interval=15,
                    grace_period=60,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
                    engine_kwargs={"pool_pre_ping": True},
                )
            return storage, mask_secrets(url)
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


def claim(trial: Any) -> None:
    """Mark a trial as run by this process, so a rerun can tell when its worker died."""
    trial.set_user_attr(HOST, socket.gethostname())
    trial.set_user_attr(PID, os.getpid())


def fail_dead_trials(study: Any, on_failed: Any = None) -> int:
    """RUNNING trials whose worker on this machine is gone: mark FAIL and queue a retry.

    `on_failed(trial)` is called for each (the sweep closes its MLflow run). On RDB storages,
    heartbeats do the same for workers on other machines.
    """
    from optuna.trial import TrialState

    host, failed = socket.gethostname(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get(HOST) == host and not alive(int(attrs.get(PID, -1))):
            study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
            if trial.params:
                study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
            if on_failed is not None:
                on_failed(trial)
            failed += 1
    if _heartbeat(study):
        from optuna.storages import fail_stale_trials

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental", "meant for Study.optimize"
            fail_stale_trials(study)
    return failed


def _heartbeat(study: Any) -> bool:
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(study._storage)


def counts(study: Any) -> dict[str, int]:
    """complete / pruned / failed (raised) / running (live) / retried or surplus."""
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


def counted(trial: Any) -> bool:
    """Does this trial count towards n_trials (finished, or running now)?"""
    from optuna.trial import TrialState

    if trial.user_attrs.get(SURPLUS):
        return False
    if trial.state == TrialState.FAIL:
        return ERROR in trial.user_attrs
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def done(study: Any) -> int:
    """Trials that count towards n_trials: finished, and those in progress."""
    return sum(counted(t) for t in study.get_trials(deepcopy=False))
