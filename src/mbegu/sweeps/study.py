"""A sweep's config and its Optuna study, one sampler seed per worker and machine.

The config is composed and checked; the study opened or reopened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from mbegu.config.compose import compose, config_groups
from mbegu.errors import MbeguError
from mbegu.project import project_root
from mbegu.security import instantiate
from mbegu.sweeps import storage as trials
from mbegu.sweeps.runs import close_dead_run
from mbegu.sweeps.space import SearchSpace

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage

    from mbegu.tracking.tracker import MlflowTracker

UID_ATTR = "mbegu_uid"


def base_overrides(overrides: Sequence[str]) -> list[str]:
    """What every trial starts from: the command line minus the sweep's own settings."""
    return [o for o in overrides if not re.match(r"^[+~]?sweep([.=]|$)", o)]


def sweep_config(overrides: Sequence[str]) -> DictConfig:
    """conf/ composed with the overrides, refused without a sweep or with a bad search space."""
    cfg = compose(overrides)
    if cfg.get("sweep") is None:
        options = ", ".join(config_groups().get("sweep", [])) or "none in conf/sweep/"
        raise MbeguError(f"no sweep chosen: add sweep=<name> (options: {options})")
    SearchSpace(cfg.sweep.params)  # a bad search space fails before anything starts
    return cfg


def sampler_config(sampler: DictConfig, worker: int, machines: bool = False) -> object:
    """The sampler of worker `worker`: its seed offset by the worker index.

    On a shared (RDB) storage it is also offset by this machine and process. Workers with one seed
    and the same history would propose the same params at the same time.
    """
    import socket
    import zlib

    node = OmegaConf.to_container(sampler, resolve=True)
    if isinstance(node, dict) and isinstance(node.get("seed"), int):
        node["seed"] += worker
        if machines:  # distinct per command on any machine; one machine's sweep stays seeded
            node["seed"] += zlib.crc32(f"{socket.gethostname()}:{os.getpid()}".encode()) % 10**6
    return node


def open_study(cfg: DictConfig, worker: int = 0) -> tuple[optuna.Study, BaseStorage, str]:
    """(study, its storage, a printable description of where it lives)."""
    import optuna

    s = cfg.sweep
    tracker: MlflowTracker = instantiate(cfg.tracking, where="tracking")
    storage, where = trials.make_storage(
        s.storage,
        s.study_name,
        project_root(),
        heartbeat_interval=s.get("heartbeat_interval", 15),
        grace_period=s.get("grace_period", 60),
        on_stale=lambda trial: close_dead_run(tracker, s, trial),
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


def study_uid(study: optuna.Study) -> str:
    """An id of this very study: a new study that reuses an old name gets a new parent run."""
    import uuid

    if UID_ATTR not in study.user_attrs:
        study.set_user_attr(UID_ATTR, uuid.uuid4().hex)
    return str(study.user_attrs[UID_ATTR])
