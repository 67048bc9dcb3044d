"""The trust boundary: what may become a class, what may become a path, what may be shown.

Configs, checkpoints and model folders can come from a teammate, a DVC remote or an MLflow
store. Loading them must never run code, so:
- every `_target_` is checked against an allow-list before Hydra imports anything;
- names that become file names are plain names, never paths;
- credentials in URLs are masked before they reach a tag, a param, an artifact or a message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError, first_line

# Where a `_target_`'s class may be defined: mbegu's own modules, torch's layers and
# optimizers, Lightning's Trainer, callbacks and profilers, Optuna's samplers and pruners.
# Checked on the text before anything is imported, then on the class itself (Hydra resolves
# attributes, so `mbegu.tracking.store.os.system` names os.system): it must be a class
# defined there.
ALLOWED_MODULES = (
    "mbegu.",
    "torch.nn.",
    "torch.optim.",
    "lightning.pytorch.trainer.",
    "lightning.pytorch.callbacks.",
    "lightning.pytorch.profilers.",
    "dvclive.lightning.",
    "optuna.samplers.",
    "optuna.pruners.",
)
ALLOWED_NAMES = (*ALLOWED_MODULES, "lightning.pytorch.Trainer")
# mbegu's own modules that start processes or touch files are no class library.
DENIED_MODULES = ("mbegu.cli", "mbegu.io", "mbegu.security", "mbegu.__main__")


def check_targets(node: object, where: str) -> None:
    """Refuse any `_target_` that is not a class defined in an allowed module."""
    for path, target in _targets(node, ""):
        key = f"{path}._target_" if path else "_target_"
        if not _allowed(target):
            raise MbeguError(
                f"{where}: {key}={target!r} is not an allowed class (mbegu.*, torch.nn.*, "
                f"torch.optim.*, Lightning's Trainer and callbacks, Optuna samplers/pruners): "
                f"refused, nothing was loaded"
            )


def _allowed(target: str) -> bool:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+", target):
        return False
    if not target.startswith(ALLOWED_NAMES) or target.startswith(DENIED_MODULES):
        return False
    from hydra.utils import get_object

    try:
        found = get_object(target)  # imports only a module under an allowed name
    except Exception:
        return False
    module = getattr(found, "__module__", "") or ""
    return (
        isinstance(found, type)
        and f"{module}.".startswith(ALLOWED_MODULES)
        and not module.startswith(DENIED_MODULES)
    )


def _targets(node: object, path: str) -> list[tuple[str, str]]:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, DictConfig | ListConfig):
        node = OmegaConf.to_container(node, resolve=False)
    found: list[tuple[str, str]] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "_target_":
                found.append((path, str(value)))
            else:
                found += _targets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            found += _targets(value, f"{path}[{i}]")
    return found


def refuse_interpolation(node: object, where: str) -> None:
    """Refuse any `${...}` in a config read from a file from elsewhere.

    Files from elsewhere (a model folder, a checkpoint) hold resolved configs: a `${...}` there
    could build a `_target_` at resolution time, after the allow-list looked.
    """
    for path, value in _strings(node, ""):
        if "${" in value:
            raise MbeguError(
                f"{where}: {path or 'a value'} holds an interpolation ({value[:60]!r}): refused, "
                f"nothing was loaded"
            )


def _strings(node: object, path: str) -> list[tuple[str, str]]:
    if isinstance(node, str):
        return [(path, node)]
    if isinstance(node, Mapping):
        return [s for k, v in node.items() for s in _strings(v, f"{path}.{k}".lstrip("."))]
    if isinstance(node, list | tuple):
        return [s for i, v in enumerate(node) for s in _strings(v, f"{path}[{i}]")]
    return []


def instantiate(node: Any, *, where: str = "config", **kwargs: Any) -> Any:
    """Hydra's instantiate on the resolved tree, after the allow-list check.

    The only way mbegu builds classes. (Resolving first: an interpolation such as `${oc.create:...}`
    could otherwise produce a `_target_` after the check.)

    Args:
        node: A config node (or plain dict) with `_target_`s.
        where: What the node is (`model`, a file), as error lines name it.
        **kwargs: Arguments passed on to the target, over the node's own.

    Returns:
        What the node's `_target_` built.

    Raises:
        MbeguError: A `_target_` off the allow-list, an interpolation, or the class's own refusal.
    """
    from hydra.utils import instantiate as hydra_instantiate
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if not isinstance(node, DictConfig | ListConfig):
        node = OmegaConf.create(node)
    plain = OmegaConf.to_container(node, resolve=True)
    refuse_interpolation(plain, where)
    check_targets(plain, where)
    from hydra.errors import InstantiationException

    try:
        return hydra_instantiate(plain, **kwargs)
    except InstantiationException as err:  # Hydra wraps a class's own one-line refusal
        cause = err.__cause__
        if isinstance(cause, MbeguError):
            raise cause from None
        if isinstance(cause, TypeError):  # a key the class does not take, or lacks one it needs
            target = plain.get("_target_") if isinstance(plain, dict) else None
            raise MbeguError(
                f"{where}: {target or 'the class'} does not take these settings "
                f"({first_line(cause)}): fix or remove the key in conf/ or the override"
            ) from None
        raise


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def safe_name(value: object, key: str) -> str:
    """A user string that becomes a file name: letters, digits, `-_.`, no separators."""
    text = str(value)
    if not NAME.fullmatch(text) or ".." in text:
        raise MbeguError(
            f"{key}={text!r} is not a plain name: use letters, digits, '-', '_' and '.' only "
            f"(no '/', no '..', at most 100 characters)"
        )
    return text


def inside(root: Path, relative: str, key: str) -> Path:
    """`root / relative`, refused when it leads outside the project.

    Refused when it is absolute, climbs out with `..`, or leads out through a symlink
    (`data/passwd.csv -> /etc/passwd`): the text alone would let a link read or write anywhere.
    Links into DVC's cache pass (mbegu.links). The path comes back as written, unresolved: a data
    file linked into the cache still lies in data/.

    Args:
        root: The project root.
        relative: The path as the config or command line gives it.
        key: The option that gives it (`data.path`, `--out`), as the error names it.

    Returns:
        `root / relative`, normalised.

    Raises:
        MbeguError: The path leads outside the project.
    """
    from mbegu.links import leads_inside

    text = str(relative)
    normal = os.path.normpath(text)
    if os.path.isabs(text) or normal == ".." or normal.startswith(f"..{os.sep}"):
        raise MbeguError(
            f"{key}={text!r} points outside the project ({root}): use a path inside it"
        )
    path = root / normal
    if not leads_inside(root, path):
        raise MbeguError(
            f"{key}={text!r} leads outside the project through a symlink (to "
            f"{path.resolve()}): refused, nothing was read or written; copy the file or "
            f"folder into the project instead of linking it"
        )
    return path


# A URL's user:password@ (up to the last @ of the URL: passwords may hold / or @), secret-looking
# query parameters, and libpq's `password=...` keyword form.
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<rest>[^\s'\"<>]+)")
_QUERY = re.compile(
    r"(?P<key>[?&;](?:sig|sas|[A-Za-z_.-]*(?:password|passwd|pwd|token|secret|signature|"
    r"credential|api_?key|access_?key)[A-Za-z_.-]*)=)[^&\s'\"]+",
    re.IGNORECASE,
)
_KEYWORD = re.compile(r"(?P<key>(?:^|\s)(?:password|passwd)\s*=\s*)\S+", re.IGNORECASE)
MASK = "***"


def _mask_url(match: re.Match[str]) -> str:
    scheme, rest = match.group("scheme"), match.group("rest")
    if "@" in rest:
        userinfo, host = rest.rsplit("@", 1)
        user, has_password, _ = userinfo.partition(":")
        # user:password@ keeps the user; a lone user@ may itself be a token.
        rest = f"{user}:{MASK}@{host}" if has_password and "/" not in user else f"{MASK}@{host}"
    return scheme + rest


def mask_secrets(text: str) -> str:
    """`postgresql://u:pw@host/db?password=x` -> `postgresql://u:***@host/db?password=***`."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL.sub(_mask_url, text)
    text = _QUERY.sub(lambda m: m.group("key") + MASK, text)
    return _KEYWORD.sub(lambda m: m.group("key") + MASK, text)


def mask_tree(node: Any) -> Any:
    """mask_secrets on every string of a nested dict/list (a config before it is logged)."""
    if isinstance(node, str):
        return mask_secrets(node)
    if isinstance(node, Mapping):
        return {key: mask_tree(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [mask_tree(value) for value in node]
    return node
