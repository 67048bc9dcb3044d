"""Composing conf/ with Hydra, reading params.yaml, and turning Hydra's errors into one line.

Both paths give the same resolved DictConfig: `compose()` for the CLI and sweeps (Hydra
overrides), `load_params()` for DVC stages, which must read params.yaml so that
`dvc exp run -S ...` takes effect.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import yaml
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


def compose(overrides: Sequence[str] = (), root: Path | None = None) -> DictConfig:
    """Compose conf/ with Hydra overrides into a resolved, validated config.

    Args:
        overrides: Hydra overrides (`key=value`, `group=option`, `+key=value`).
        root: The project root; None: the one project_root() finds.

    Returns:
        The resolved config, validated against the schema.

    Raises:
        MbeguError: An unknown option or key, a bad override, or a config that does not resolve.
    """
    return _resolved(_compose_unresolved(overrides, root), overrides, root)


class Composer:
    """compose(base + extra) for many `extra`s, as a sweep needs one config per trial.

    Hydra re-reads and re-merges conf/ on every compose (0.3 s here, most of a small trial's
    set-up) and has no cache across composes. A trial changes only values, so the base is
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


def _exp_run() -> bool:
    """True inside `dvc exp run`, which just composed conf/ (+ -S overrides) into params.yaml."""
    return bool(os.environ.get("DVC_EXP_NAME"))


def load_params(path: Path, check_stale: bool = True) -> DictConfig:
    """Read params.yaml (what DVC stages must read) after checking it still matches conf/.

    `dvc repro` never recomposes conf/: after an edit there, params.yaml would silently train
    the old config. Under `dvc exp run` it was just composed, with -S overrides, so it is trusted.

    Args:
        path: The params.yaml file.
        check_stale: Compare it with conf/ composed (MBEGU_ALLOW_STALE_PARAMS=1 skips it too).

    Returns:
        The config params.yaml holds, validated against the schema.

    Raises:
        MbeguError: params.yaml is missing, not YAML, stale against conf/ or invalid.
    """
    if not path.is_file():
        raise MbeguError(f"{path} not found: run `mbegu params` to compose it from conf/")
    text = path.read_bytes()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise MbeguError(
            f"{path} is not valid YAML ({err.__class__.__name__}): run `mbegu params`"
        ) from None
    if check_stale and not _exp_run() and os.environ.get("MBEGU_ALLOW_STALE_PARAMS") != "1":
        _check_fresh(path, raw, text)
    # A mapping in any params.yaml `mbegu params` or DVC wrote; a YAML list fails in validate.
    cfg = cast("DictConfig", OmegaConf.create(raw))
    apply_local(cfg, path.parent.resolve())
    validate(cfg)
    return cfg


CHECKED = Path(".mbegu") / "params-checked"  # the last params.yaml found fresh against conf/
# What makes a composition depend on more than conf/'s own files: no pass is remembered then.
OUTSIDE_CONF = ("oc.env", "searchpath", "pkg://", "file://")


def _check_fresh(path: Path, raw: object, text: bytes) -> None:
    """params.yaml must equal conf/ composed.

    Hydra's compose costs each DVC stage about half a second, so a pass is remembered by a digest of
    all it read (conf/'s YAML files, the params.yaml text checked, the composing code, Hydra's,
    OmegaConf's and PyYAML's versions), unless conf/ reaches outside itself (environment variables,
    search paths).
    """
    root = path.parent.resolve()
    digest = _fresh_digest(text, root)
    marker = root / CHECKED
    try:
        if digest and marker.read_text() == digest:
            return
    except OSError:
        pass
    fresh = OmegaConf.to_container(_resolved(_compose_unresolved((), root), (), root, local=False))
    if fresh != raw:
        changed = "; ".join(
            f"{key}: conf/ gives {_show(new)}, {path.name} has {_show(old)}"
            for key, new, old in _diff_keys(fresh, raw)
        )
        raise MbeguError(
            f"{path.name} is stale ({changed}): plain `dvc repro` never recomposes it from "
            f"conf/; run `dvc exp run` (or `mbegu params`, then `dvc repro`)"
        )
    if not digest or _fresh_digest(text, root) != digest:  # conf/ changed while composing
        return
    try:  # a cache: a folder that cannot be written only means composing next time too
        marker.parent.mkdir(exist_ok=True)
        (marker.parent / ".gitignore").write_text("*\n")  # never in git, whatever the project
        partial = marker.with_name(f"{marker.name}.{os.getpid()}")
        partial.write_text(digest)
        os.replace(partial, marker)
    except OSError:
        pass


def _fresh_digest(text: bytes, root: Path) -> str | None:
    """The digest of what composing reads, or None when it cannot be told.

    It cannot be told from a file that cannot be read, or a conf/ that reaches outside itself.
    """
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256(text + b"\0")
    for name in ("hydra-core", "omegaconf", "pyyaml"):
        digest.update(f"{name}=={version(name)}\n".encode())
    conf = config_dir(root)
    try:
        for source in (Path(__file__), Path(__file__).with_name("schema.py")):
            digest.update(source.read_bytes() + b"\0")
        files = []
        for folder, _, names in os.walk(conf, followlinks=True):  # a linked group folder too
            files += [Path(folder, n) for n in names if n.endswith((".yaml", ".yml"))]
        for file in sorted(files):
            content = file.read_bytes()
            if any(word.encode() in content for word in OUTSIDE_CONF):
                return None
            digest.update(f"{file.relative_to(conf).as_posix()}\0".encode() + content + b"\0")
    except OSError:
        return None
    return digest.hexdigest()


_ABSENT = object()


def _diff_keys(a: object, b: object, prefix: str = "") -> list[tuple[str, object, object]]:
    """Every leaf key whose value differs: (dotted key, value in a, value in b)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[tuple[str, object, object]] = []
        for key in sorted(set(a) | set(b), key=str):
            out += _diff_keys(a.get(key, _ABSENT), b.get(key, _ABSENT), f"{prefix}{key}.")
        return out
    return [] if a == b else [(prefix.rstrip(".") or "<root>", a, b)]


def _show(value: object) -> str:
    return "nothing" if value is _ABSENT else repr(value)


def write_params(path: Path, root: Path | None = None) -> None:
    """Compose conf/ into params.yaml the way `dvc exp run` does (same keys, same order).

    Args:
        path: The params.yaml to write.
        root: The project root; None: the one project_root() finds.

    Raises:
        MbeguError: conf/ does not compose (checked before DVC's own, longer error).
    """
    from dvc.utils.hydra import compose_and_dump

    compose(root=root)  # fail with a one-line error before DVC's own, longer one
    compose_and_dump(path, str(config_dir(root)), None, CONFIG_NAME, str(path.parent), [])
