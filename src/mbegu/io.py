"""Writes that never leave half a file or half a folder behind."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError

# Write refused by the folder, not by a bug: read-only, someone else's, a read-only mount.
REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextmanager
def writable(path: Path) -> Iterator[None]:
    """Turn a folder's refusal to take `path` into one line naming it.

    A permission problem the user fixes, where the bare OSError read like a bug.
    """
    try:
        yield
    except OSError as err:
        if err.errno not in REFUSED:
            raise
        raise MbeguError(
            f"cannot write {path}: {err.filename or path.parent} refuses it ({err.strerror}): "
            f"make the folder writable (or mount it read-write), or write elsewhere"
        ) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def honour_umask(path: Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create 0600/0700; outputs get the modes any other file would."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write_text(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary file beside it, then a rename."""
    with writable(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        honour_umask(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` to write in pieces; it becomes `path` only if all went well.

    For outputs written chunk by chunk (predictions over a large file): an error or Ctrl-C
    halfway leaves no half-written `path`, and an earlier `path` stays as it was.
    """
    with writable(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        honour_umask(Path(tmp))
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def finite_json(data: Any) -> Any:
    """NaN and infinities become null: strict JSON parsers (and DVC's) reject them."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {key: finite_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite_json(value) for value in data]
    return data


def atomic_write_json(path: Path, data: Any) -> None:
    """Write `data` as sorted, indented JSON, whole or not at all; NaN and infinities as null."""
    text = json.dumps(finite_json(data), indent=2, sort_keys=True, allow_nan=False)
    atomic_write_text(path, text + "\n")


@contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a scratch folder that replaces `path` only if the block finishes."""
    with writable(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        honour_umask(tmp, directory=True)
        for child in tmp.rglob("*"):
            honour_umask(child, directory=child.is_dir())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
