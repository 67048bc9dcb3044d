"""params.yaml: what DVC stages read, checked against conf/ before it is trusted.

`dvc repro` never recomposes conf/, while `dvc exp run -S ...` writes its overrides into
params.yaml; stages therefore read params.yaml, and refuse one that no longer matches conf/.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import yaml
from omegaconf import DictConfig, OmegaConf

from mbegu.config.compose import CONFIG_NAME, compose, config_dir
from mbegu.config.local import apply_local
from mbegu.config.schema import validate
from mbegu.errors import MbeguError


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
    if not config_dir(root).is_dir():
        raise MbeguError(
            f"{path} has no conf/ beside it to be checked against: use the params.yaml at the "
            f"project's root (`mbegu params` writes it), or MBEGU_ALLOW_STALE_PARAMS=1"
        )
    digest = _fresh_digest(text, root)
    marker = root / CHECKED
    try:
        if digest and marker.read_text() == digest:
            return
    except OSError:
        pass
    fresh = OmegaConf.to_container(compose(root=root, local=False))
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
        code = ("params.py", "compose.py", "schema.py", "local.py")
        for source in (Path(__file__).with_name(name) for name in code):
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
