"""Typed schemas for the config keys whose type matters, so a wrong value fails loudly.

Only the keys listed here are checked; any other key passes through, so a Trainer or callback
argument can be added in YAML without touching Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from mbegu.errors import MbeguError


@dataclass
class DataSchema:
    """The types of the data options (`data.*`) that matter."""

    name: str
    dir: str
    path: str | None
    train_path: str | None
    val_path: str | None
    test_path: str | None
    target: str | None
    missing: str
    label_normalize: bool
    processed_dir: str
    val_fraction: float
    test_fraction: float
    batch_size: int
    seed: int


@dataclass
class TrainerSchema:
    """The types of the trainer options (`trainer.*`) that matter."""

    max_epochs: int
    log_every_n_steps: int
    num_sanity_val_steps: int
    enable_progress_bar: bool | None
    enable_model_summary: bool
    accelerator: str
    devices: Any
    precision: Any
    deterministic: Any


@dataclass
class OptimizerSchema:
    """The types of the optimizer options (`model.optimizer.*`) that matter."""

    lr: float
    weight_decay: float


@dataclass
class TrackingSchema:
    """The types of the tracking options (`tracking.*`) that matter."""

    experiment_name: str
    tracking_uri: str | None
    artifact_root: str | None
    run_name: str | None
    registered_model_name: str | None
    model_alias: str | None
    store_retry_seconds: float
    system_metrics: bool
    system_metrics_interval: float


SCHEMAS: dict[str, type] = {
    "data": DataSchema,
    "trainer": TrainerSchema,
    "model.optimizer": OptimizerSchema,
    "tracking": TrackingSchema,
}


@cache
def _structured(schema: type) -> DictConfig:
    """The schema as a config, built once per process: a sweep validates every trial."""
    return OmegaConf.structured(schema)


def _check_section(cfg: DictConfig, key: str, schema: type) -> None:
    section = OmegaConf.select(cfg, key)
    if section is None:
        raise MbeguError(f"config has no '{key}' section: restore it in conf/ or pick an option")
    names = {f.name for f in fields(schema)}
    present = {k: section[k] for k in section if k in names}
    try:  # fields left out stay MISSING, which merging allows
        OmegaConf.merge(_structured(schema), present)  # merge copies; the cached one stays
    except ValidationError as err:
        name = f"{key}.{err.key}" if err.key is not None else key
        wanted = next(f.type for f in fields(schema) if f.name == err.key) if err.key else "?"
        raise MbeguError(
            f"{name}={err.value!r} has the wrong type (expected {wanted}): pass e.g. "
            f"{name}=<{wanted}> on the command line or fix it in conf/"
        ) from None


MAX_SEED = 2**32 - 1  # numpy's and Lightning's bound


def validate(cfg: DictConfig) -> None:
    """Check types of the known keys and the values that must make sense together."""
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise MbeguError(f"seed={seed!r} must be an integer from 0 to {MAX_SEED}: e.g. seed=42")
    for key, schema in SCHEMAS.items():
        _check_section(cfg, key, schema)
    data = cfg.data
    if not (0 < data.val_fraction < 1 and 0 < data.test_fraction < 1):
        raise MbeguError(
            "data.val_fraction and data.test_fraction must each lie between 0 and 1: "
            f"got {data.val_fraction} and {data.test_fraction}"
        )
    if data.val_fraction + data.test_fraction >= 0.9:
        raise MbeguError(
            "data.val_fraction + data.test_fraction leaves under 10% of the rows to train on: "
            "lower them"
        )
    for key in ("data.batch_size", "trainer.max_epochs"):
        if OmegaConf.select(cfg, key) < 1:
            raise MbeguError(f"{key} must be at least 1: got {OmegaConf.select(cfg, key)}")
    optimizer = cfg.model.optimizer
    if not math.isfinite(optimizer.lr) or optimizer.lr <= 0:
        raise MbeguError(
            f"model.optimizer.lr must be a positive number: got {optimizer.lr} (e.g. "
            f"model.optimizer.lr=0.001)"
        )
    decay = optimizer.get("weight_decay")
    if decay is not None and (not math.isfinite(decay) or decay < 0):
        raise MbeguError(
            f"model.optimizer.weight_decay must be 0 or more: got {decay} (e.g. "
            f"model.optimizer.weight_decay=0.0001)"
        )
    _check_monitor(cfg.get("monitor"))
    from mbegu.security import safe_name

    safe_name(data.get("name"), "data.name")
    _check_promotion(cfg.tracking.get("promote_if"))
    _check_baselines(cfg.get("evaluate"))
    if cfg.get("sweep") is not None:
        _check_sweep(cfg.sweep)


PROMOTE_METRICS = ("acc", "f1_macro", "f1_weighted")
# The simple models `evaluate` scores beside the network (mbegu.evaluation.baselines).
BASELINES = ("majority", "logreg", "hgb")
PROMOTE_BARS = ("chance", "candidate", "baseline")
MONITORED = {
    "val/acc": "max",
    "val/f1_weighted": "max",
    "val/loss": "min",
    "val/acc_best": "max",
}


def _check_monitor(monitor: object) -> None:
    metric = getattr(monitor, "metric", None)
    mode = getattr(monitor, "mode", None)
    if metric not in MONITORED or mode not in ("max", "min"):
        raise MbeguError(
            f"monitor.metric={metric!r} monitor.mode={mode!r}: use monitor.metric=val/acc or "
            f"val/f1_weighted with monitor.mode=max, or monitor.metric=val/loss monitor.mode=min"
        )


def _check_promotion(rule: Mapping[str, object] | None) -> None:
    if rule is None:
        return
    metric, above = rule.get("metric"), rule.get("above")
    if metric not in PROMOTE_METRICS:
        raise MbeguError(
            f"tracking.promote_if.metric={metric!r}: use one of {', '.join(PROMOTE_METRICS)}"
        )
    if above not in PROMOTE_BARS and (
        isinstance(above, bool) or not isinstance(above, int | float) or not math.isfinite(above)
    ):
        raise MbeguError(
            f"tracking.promote_if.above={above!r}: use chance, candidate, baseline or a number "
            f"like 0.9"
        )


def baseline_names(section: Mapping[str, Any] | None) -> list[str]:
    """The baselines evaluate.baselines asks for, each once, in its order.

    Args:
        section: The config's `evaluate` section; None (a config from before it existed)
            asks for none.

    Returns:
        Names from BASELINES; empty when the list is empty or null.

    Raises:
        MbeguError: The list is not a list, or names a baseline mbegu does not have.
    """
    names = (section or {}).get("baselines")
    if names is None:
        return []
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise MbeguError(
            f"evaluate.baselines={names!r} is not a list: e.g. evaluate.baselines=[logreg] "
            f"or evaluate.baselines=[] for none"
        )
    unknown = [str(n) for n in names if n not in BASELINES]
    if unknown:
        raise MbeguError(
            f"evaluate.baselines has {', '.join(unknown)}: the baselines are "
            f"{', '.join(BASELINES)} (or [] for none)"
        )
    return list(dict.fromkeys(str(n) for n in names))


def _check_baselines(section: Mapping[str, Any] | None) -> None:
    baseline_names(section)


def _check_sweep(sweep: DictConfig) -> None:
    from mbegu.security import safe_name

    safe_name(sweep.get("study_name"), "sweep.study_name")
    for key in ("n_trials", "workers", "heartbeat_interval", "grace_period"):
        value = sweep.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise MbeguError(f"sweep.{key} must be a whole number of at least 1: got {value!r}")
    start = sweep.get("worker_start", "auto")
    if start not in ("auto", "fork", "spawn"):
        raise MbeguError(f"sweep.worker_start={start!r}: use auto, fork or spawn")
    if sweep.grace_period <= sweep.heartbeat_interval:
        raise MbeguError(
            f"sweep.grace_period={sweep.grace_period} must exceed sweep.heartbeat_interval="
            f"{sweep.heartbeat_interval}: a live trial would look dead between beats"
        )
