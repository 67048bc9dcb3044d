"""Composing conf/ with Hydra, and turning Hydra's errors into one line.

`compose()` serves the CLI and sweeps (Hydra overrides); mbegu.config.params reads
params.yaml for DVC stages and gives the same resolved DictConfig.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from mbegu.config.local import apply_local
from mbegu.config.schema import validate
from mbegu.errors import MbeguError, first_line
from mbegu.project import project_root

if TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

CONFIG_NAME = "config"


def config_dir(root: Path | None = None) -> Path:
    """The project's Hydra config folder, conf/, which every compose reads.

    Args:
        root: The project root; None: the one project_root() finds.

    Returns:
        The conf/ folder's path (it may not exist).
    """
    return (root or project_root()) / "conf"


def config_groups(root: Path | None = None) -> dict[str, list[str]]:
    """Each config group and its options, read from conf/ (for --help and error messages).

    Args:
        root: The project root; None: the one project_root() finds.

    Returns:
        Each group folder's name and the sorted names of its YAML options.
    """
    groups: dict[str, list[str]] = {}
    for folder in sorted(p for p in config_dir(root).iterdir() if p.is_dir()):
        groups[folder.name] = sorted(f.stem for f in folder.glob("*.yaml"))
    return groups


def _one_line(err: Exception, overrides: Sequence[str], root: Path | None) -> str:
    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf.errors import ConfigKeyError, InterpolationResolutionError

    text = first_line(err)
    if isinstance(err, MissingConfigException) or "Could not find" in text:
        groups = config_groups(root)
        for override in overrides:
            group, _, option = override.lstrip("+~").partition("=")
            group = group.split("@")[0]
            if group in groups and option not in groups[group]:
                return (
                    f"unknown option '{option}' for config group '{group}': choose one of "
                    f"{', '.join(groups[group])} (or add conf/{group}/{option}.yaml)"
                )
        return f"{text}: check group and option names in conf/ (`mbegu train --help` lists them)"
    if "Could not override" in text or ("Key '" in text and "is not in struct" in text):
        key = text.split("'")[1] if "'" in text else text
        return (
            f"unknown config key '{key}': check the spelling (mbegu train --cfg job shows every "
            f"key), or prefix it with + to add a new key"
        )
    if isinstance(err, InterpolationResolutionError | ConfigKeyError):
        return f"config does not resolve: {text}"
    if isinstance(err, ConfigCompositionException):
        return f"config does not compose: {text}"
    return f"bad override: {text} (Hydra override grammar: key=value, group=option)"


def _compose_unresolved(overrides: Sequence[str], root: Path | None) -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(config_dir(root)), version_base="1.3"):
            return hydra_compose(CONFIG_NAME, overrides=list(overrides))
    except Exception as err:
        raise MbeguError(_one_line(err, overrides, root)) from None
    finally:
        GlobalHydra.instance().clear()


def _resolved(
    cfg: DictConfig, overrides: Sequence[str], root: Path | None, local: bool = True
) -> DictConfig:
    try:
        OmegaConf.resolve(cfg)
    except Exception as err:
        raise MbeguError(_one_line(err, overrides, root)) from None
    if local:
        apply_local(cfg, root or project_root(), overrides)
    validate(cfg)
    return cfg


def compose(
    overrides: Sequence[str] = (), root: Path | None = None, local: bool = True
) -> DictConfig:
    """Compose conf/ with Hydra overrides into a resolved, validated config.

    Args:
        overrides: Hydra overrides (`key=value`, `group=option`, `+key=value`).
        root: The project root; None: the one project_root() finds.
        local: Apply this machine's conf/local.yaml; False gives what params.yaml must hold.

    Returns:
        The resolved config, validated against the schema.

    Raises:
        MbeguError: An unknown option or key, a bad override, or a config that does not resolve.
    """
    return _resolved(_compose_unresolved(overrides, root), overrides, root, local)


class Composer:
    """compose(base + extra) for many `extra`s, as a sweep needs one config per trial.

    Hydra re-reads and re-merges conf/ on every compose (most of a small trial's set-up)
    and has no cache across composes. A trial changes only values, so the base is
    composed once, unresolved, and each trial's `key=value` overrides are applied to a copy
    the way Hydra applies them (OmegaConf.update in struct mode), then resolved: the same
    config, interpolations included. An override that picks a config group option, adds or
    deletes a key falls back to a full compose.

    Args:
        base: The overrides every config shares, composed once.
        root: The project root; None: the one project_root() finds.
    """

    def __init__(self, base: Sequence[str] = (), root: Path | None = None) -> None:
        self.base, self.root = list(base), root
        self._groups = set(config_groups(root))
        self._cfg = _compose_unresolved(self.base, root)

    def __call__(self, extra: Sequence[str] = ()) -> DictConfig:
        """The config that compose(base + extra) makes, without composing again where it can.

        Args:
            extra: The trial's overrides, applied after the base's.

        Returns:
            The resolved, validated config.

        Raises:
            MbeguError: A bad override or a config that does not resolve, as compose() words it.
        """
        from hydra.core.override_parser.overrides_parser import OverridesParser

        overrides = [*self.base, *extra]
        try:
            parsed = OverridesParser.create().parse_overrides(list(extra))
        except Exception:
            return compose(overrides, self.root)  # its error message
        if any(self._needs_hydra(o) for o in parsed):
            return compose(overrides, self.root)
        cfg = copy.deepcopy(self._cfg)
        try:
            for override in parsed:
                OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
        except Exception:
            return compose(overrides, self.root)  # Hydra's one-line error for the same
        return _resolved(cfg, overrides, self.root)

    def _needs_hydra(self, override: Override) -> bool:
        key = override.key_or_group
        return (
            override.is_add()
            or override.is_delete()
            or override.is_force_add()
            or override.is_sweep_override()
            or override.package is not None
            or "/" in key
            or key in self._groups
        )
