"""The trust boundary: what may become a class, what may become a path, what may be shown.

Configs, checkpoints and model folders can come from a teammate, a DVC remote or an MLflow
store. Loading them must never run code, so:
- every `_target_` is checked against an allow-list before Hydra imports anything;
- names that become file names are plain names, never paths;
- credentials in URLs are masked before they reach a tag, a param, an artifact or a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError

# What a `_target_` may name: mbegu's own modules, torch's layers and optimizers, Lightning's
# Trainer and callbacks, Optuna's samplers and pruners. Nothing that reads files or runs commands.
ALLOWED_TARGETS = (
    "mbegu.",
    "torch.nn.",
    "torch.optim.",
    "pytorch_lightning.Trainer",
    "pytorch_lightning.trainer.trainer.Trainer",
    "pytorch_lightning.callbacks.",
    "lightning.pytorch.Trainer",
    "lightning.pytorch.callbacks.",
    "optuna.samplers.",
    "optuna.pruners.",
)
# Loading mbegu's own modules is fine, but not the parts that start processes or touch files.
DENIED_TARGETS = ("mbegu.cli.", "mbegu.io.", "mbegu.security.")


def check_targets(node: Any, where: str) -> None:
    """Refuse any `_target_` outside the allow-list, anywhere in a config tree."""
    for path, target in _targets(node, ""):
        allowed = target.startswith(ALLOWED_TARGETS) and not target.startswith(DENIED_TARGETS)
        if not allowed or ".." in target or not re.fullmatch(r"[A-Za-z_][\w.]*", target):
            key = f"{path}._target_" if path else "_target_"
            raise MbeguError(
                f"{where}: {key}={target!r} is not an allowed class (mbegu.*, torch.nn.*, "
                f"torch.optim.*, Lightning's Trainer and callbacks, Optuna samplers/pruners): "
                f"refused, nothing was loaded"
            )


def _targets(node: Any, path: str) -> list[tuple[str, str]]:
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


def instantiate(node: Any, *, where: str = "config", **kwargs: Any) -> Any:
    """Hydra's instantiate, after the allow-list check: the only way mbegu builds classes."""
    from hydra.utils import instantiate as hydra_instantiate

    check_targets(node, where)
    return hydra_instantiate(node, **kwargs)


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def safe_name(value: Any, key: str) -> str:
    """A user string that becomes a file name: letters, digits, `-_.`, no separators."""
    text = str(value)
    if not NAME.fullmatch(text) or ".." in text:
        raise MbeguError(
            f"{key}={text!r} is not a plain name: use letters, digits, '-', '_' and '.' only "
            f"(no '/', no '..', at most 100 characters)"
        )
    return text


def inside(root: Path, relative: str, key: str) -> Path:
    """`root / relative`, refused when it would land outside the project."""
    path = (root / relative).resolve()
    if path != root.resolve() and root.resolve() not in path.parents:
        raise MbeguError(
            f"{key}={relative!r} points outside the project ({root}): use a path inside it"
        )
    return path


# user:password@ in any URL, and secret-looking query parameters.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*)(:[^/@\s]*)?@")
_QUERY = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pwd|token|access_token|api_key|apikey|key|secret|"
    r"sig|signature|sas|credential|X-Amz-Signature|X-Amz-Credential)=)[^&\s'\"]+",
    re.IGNORECASE,
)
MASK = "***"


def mask_secrets(text: str) -> str:
    """`postgresql://u:pw@host/db?password=x` -> `postgresql://u:***@host/db?password=***`."""
    if "://" not in text and "=" not in text:
        return text

    def userinfo(match: re.Match[str]) -> str:
        scheme, user = match.group("scheme"), match.group("user")
        # user:password@ keeps the user; a lone user@ may itself be a token.
        return f"{scheme}{user}:{MASK}@" if match.group(3) is not None else f"{scheme}{MASK}@"

    return _QUERY.sub(lambda m: m.group("key") + MASK, _USERINFO.sub(userinfo, text))


def mask_tree(node: Any) -> Any:
    """mask_secrets on every string of a nested dict/list (a config before it is logged)."""
    if isinstance(node, str):
        return mask_secrets(node)
    if isinstance(node, Mapping):
        return {key: mask_tree(value) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [mask_tree(value) for value in node]
    return node
