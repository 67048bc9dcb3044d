"""The best trial as a Hydra config, `conf/experiment/best_STUDY.yaml`, that retrains it.

Every group choice and the trial's values, rounded as the trial trained them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from mbegu.config.compose import config_groups
from mbegu.io import atomic_write_text
from mbegu.project import project_root
from mbegu.security import mask_secrets
from mbegu.sweeps.study import base_overrides

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def best_config_path(study_name: str, root: Path | None = None) -> Path:
    """Where a study's best config goes: conf/experiment/, named after the study."""
    safe = re.sub(r"[^A-Za-z0-9_]+", "_", study_name).strip("_")
    return (root or project_root()) / "conf" / "experiment" / f"best_{safe}.yaml"


def write_best_config(cfg: DictConfig, overrides: Sequence[str], best: FrozenTrial) -> Path:
    """The best trial as `conf/experiment/best_STUDY.yaml`.

    The sweep's base overrides (group choices as defaults-list overrides) plus the trial's values.
    """
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
