"""Machine settings from conf/local.yaml: git-ignored, applied over the config at run time.

A team server's tracking URI, an Optuna storage on PostgreSQL or a thread count belong to one
machine, not to the experiment. Hydra's usual `optional local` config group would compose them
into params.yaml, which is committed and tracked by DVC, so one person's server address would
travel to everyone. conf/local.yaml is therefore read by mbegu itself, after composing and
after reading params.yaml, and only for the keys in `MACHINE_KEYS`: none of them is a stage
parameter in dvc.yaml, so params.yaml and dvc.lock stay the same on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from mbegu.errors import MbeguError

LOCAL = Path("conf") / "local.yaml"
# Where results are stored and how many threads compute them; never what is computed.
MACHINE_KEYS = ("tracking.tracking_uri", "tracking.artifact_root", "sweep.storage", "threads")


def machine_settings(root: Path) -> dict[str, object]:
    """The settings conf/local.yaml makes, as dotted keys.

    Args:
        root: The project folder.

    Returns:
        `{dotted key: value}`; empty when the file does not exist or is empty.

    Raises:
        MbeguError: The file is not YAML, not a mapping, or sets a key that is not a
            machine setting (it would change results without DVC knowing).
    """
    path = root / LOCAL
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise MbeguError(
            f"{LOCAL} cannot be read ({err.__class__.__name__}): fix its YAML or delete it"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MbeguError(f"{LOCAL} must be a mapping such as `threads: 2`: fix it or delete it")
    flat = _flatten(raw)
    unknown = sorted(set(flat) - set(MACHINE_KEYS))
    if unknown:
        raise MbeguError(
            f"{LOCAL} sets {', '.join(unknown)}: it holds machine settings only "
            f"({', '.join(MACHINE_KEYS)}); put the rest in conf/ or on the command line"
        )
    return flat


def apply_local(cfg: DictConfig, root: Path, overrides: Sequence[str] = ()) -> DictConfig:
    """Set conf/local.yaml's values in `cfg`, in place; command-line overrides win.

    Args:
        cfg: A composed, resolved config (or params.yaml read).
        root: The project folder.
        overrides: The command's Hydra overrides: a key given there keeps its value.

    Returns:
        `cfg`, for chaining.
    """
    given = {o.lstrip("+~").partition("=")[0] for o in overrides}
    for key, value in machine_settings(root).items():
        parent = key.rpartition(".")[0]
        if key in given or (parent and OmegaConf.select(cfg, parent) is None):
            continue  # e.g. sweep.storage when the command composes no sweep
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def _flatten(tree: dict[object, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= _flatten(value, f"{name}.")
        else:
            out[name] = value
    return out
