"""Option names checked against the class they configure, before anything is built.

Hydra passes every key of a `_target_` node to the class; a misspelt key (`+trainer.max_epoch=5`)
surfaces as a TypeError deep inside instantiate. Checking the names against the class's
signature first turns it into one line with a suggestion.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping

from omegaconf import DictConfig, ListConfig, OmegaConf

from mbegu.errors import MbeguError
from mbegu.security import check_targets

SECTIONS = ("data", "model", "trainer", "callbacks", "logger")


def check_options(cfg: DictConfig, sections: tuple[str, ...] = SECTIONS) -> None:
    """Every key of every `_target_` node in `sections` must be an argument of its class."""
    for section in sections:
        node = OmegaConf.select(cfg, section)
        if node is not None:
            check_targets(node, section)
            _walk(node, section)


def _walk(node: object, path: str) -> None:
    if isinstance(node, DictConfig):
        if "_target_" in node:
            _check(node, path)
        for key in node:
            value = node._get_node(key)
            if isinstance(value, DictConfig | ListConfig):
                _walk(value, f"{path}.{key!s}")
    elif isinstance(node, ListConfig):
        for i, value in enumerate(node):
            _walk(value, f"{path}[{i}]")


def _names(
    target: Callable[..., object], parameters: Mapping[str, inspect.Parameter]
) -> list[str] | None:
    """The keyword arguments a class takes, following **kwargs up to its bases.

    mbegu's data modules pass theirs on; None when some class takes anything.
    """
    names: list[str] = []
    classes: tuple[type[object], ...] | tuple[Callable[..., object]] = (
        inspect.getmro(target) if isinstance(target, type) else (target,)
    )
    for cls in classes:
        params = parameters if cls is target else inspect.signature(cls.__init__).parameters
        names += [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return names
        if not str(getattr(cls, "__module__", "")).startswith("mbegu."):
            return None
    return None


def _check(node: DictConfig, path: str) -> None:
    from hydra.utils import get_object

    try:
        target = get_object(str(node._target_))
    except Exception as err:
        raise MbeguError(f"{path}._target_={node._target_!r} cannot be imported ({err})") from None
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return  # a builtin without a signature: let the class judge
    names = _names(target, parameters)
    if names is None:
        return
    for key in node:
        if str(key).startswith("_") or key in names:
            continue
        close = difflib.get_close_matches(str(key), names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise MbeguError(
            f"{path} has no option '{key!s}'{hint}: remove it or fix the spelling "
            f"(`mbegu train --cfg job` shows the composed config)"
        )
