"""A full disk, told in one line: which filesystem, how much room it has, how much is needed.

No space left (ENOSPC), a quota reached (EDQUOT) and a file past the process's size limit
(EFBIG, `ulimit -f`) mean the same to the user: make room, rerun. Libraries report them in
their own words: an OSError with that errno (Python, Lightning's checkpoints, MLflow's
artifacts), SQLite's "database or disk is full", or its "disk I/O error" when a size limit
cuts a write short (SQLite reports only ENOSPC as full).
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
SQLITE_FULL = "database or disk is full"
SQLITE_IO = "disk I/O error"
# Room asked for when the write that failed does not say its size (a write() call never
# does): a training run of the bundled example writes a few MB; this leaves a wide margin.
ROOM = 250 * 10**6


def _chain(err: BaseException) -> Iterator[BaseException]:
    """The error and the ones it was raised from or while handling, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def size_limit() -> int | None:
    """The largest file this process may write (`ulimit -f`), None if unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def full_error(err: BaseException) -> BaseException | None:
    """The part of `err` that says the disk is full, or None."""
    for part in _chain(err):
        if isinstance(part, shutil.Error):  # copytree (MLflow's folder upload) keeps only text
            for entry in part.args[0] if part.args and isinstance(part.args[0], list) else ():
                target, why = entry[1], str(entry[-1])
                code = next((c for c in FULL if os.strerror(c) in why), None)
                if code is not None:
                    return OSError(code, os.strerror(code), target)
        if isinstance(part, OSError) and part.errno in FULL:
            return part
        text = str(part)
        if SQLITE_FULL in text or (SQLITE_IO in text and size_limit() is not None):
            return part
    return None


def mount_point(path: Path) -> Path:
    """The filesystem `path` lives on, named by where it is mounted."""
    here = next((p for p in (path, *path.parents) if p.exists()), Path("/")).resolve()
    while not os.path.ismount(here):
        here = here.parent
    return here


def human(size: float) -> str:
    """A byte count as people read it: `512 B`, `3.4 MB`, `1.2 GB`."""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # not reached: GB is the last unit above


def write_places(root: Path | None) -> list[Path]:
    """Where an mbegu command writes: the project, the local MLflow store, the temporary folder.

    The project holds outputs, checkpoints and sweeps; the local store has its artifacts beside it;
    MLflow stages models in the temporary folder.
    """
    from mbegu.tracking.store import resolve_tracking_uri

    places = [root] if root else []
    try:
        uri = resolve_tracking_uri(root=root) if root else os.environ.get("MLFLOW_TRACKING_URI")
    except Exception:  # no project and no URI: only the temporary folder is known
        uri = None
    if uri and uri.startswith("sqlite:///"):
        places.append(Path(uri.removeprefix("sqlite:///")).parent)
    return [*places, Path(tempfile.gettempdir())]


def disk_full_message(full: BaseException, places: Sequence[Path]) -> str:
    """The line for a full disk, with how much room is free and needed.

    It names the filesystem the failed write names, else the fullest of the places the command
    writes to.
    """
    named = getattr(full, "filename", None)
    candidates = [Path(named)] if named else list(places)
    room = {mount_point(p): shutil.disk_usage(mount_point(p)).free for p in candidates}
    mount, free = min(room.items(), key=lambda item: item[1])
    limit = size_limit()
    writing = f" (writing {named})" if named else ""
    capped = f" and a file size limit of {human(limit)} (ulimit -f)" if limit else ""
    fix = "free space there or raise the limit" if limit else "free space there"
    return (
        f"the filesystem at {mount} is full{writing}: {human(free)} free{capped}, about "
        f"{human(ROOM)} needed: {fix}, then rerun the same command (outputs were left as "
        f"they were)"
    )


def disk_full_line(full: BaseException) -> str:
    """disk_full_message for the project the command runs in (if any)."""
    from mbegu.errors import MbeguError
    from mbegu.project import project_root

    try:
        root: Path | None = project_root()
    except MbeguError:
        root = None
    return disk_full_message(full, write_places(root))
