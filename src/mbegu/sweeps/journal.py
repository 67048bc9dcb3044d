"""An Optuna journal file cut short (a full disk, a power cut mid-append) is repaired on open.

Optuna appends each batch of records as JSON lines and skips a last line without its newline
when it reads, but its next append lands right after those bytes: the record written then is
glued to the torn one, lost, and every later read fails on the broken line. Optuna has no
repair of its own, so here the torn tail is moved aside to `<journal>.torn` (kept, never
silently dropped), the journal is cut back to its last whole record, and one warning names it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mbegu.errors import warn


def _torn_from(data: bytes) -> int:
    """Where the torn tail starts; len(data) when nothing is torn.

    After the last whole line, or before a last line that is not a JSON record (its newline written,
    its text not).
    """
    end = data.rfind(b"\n") + 1
    if end < len(data):
        return end
    start = data.rfind(b"\n", 0, max(end - 1, 0)) + 1
    try:
        json.loads(data[start:end])
    except ValueError:
        return start
    return len(data)


def repair_torn_tail(path: Path) -> Path | None:
    """Cut a torn last record off the journal at `path` into `PATH.torn`.

    Returns that file when there was one. Holds Optuna's own lock on the journal while it looks, so
    a record another worker is appending right now is not mistaken for a torn one.
    """
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.is_file() or path.stat().st_size == 0:
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        start = _torn_from(data) if data else 0
        if start == len(data):
            return None
        torn = path.with_name(f"{path.name}.torn")
        with torn.open("ab") as aside:  # an earlier torn tail stays there too
            aside.write(data[start:] + (b"" if data.endswith(b"\n") else b"\n"))
            aside.flush()
            os.fsync(aside.fileno())
        with path.open("r+b") as journal:
            journal.truncate(start)
            journal.flush()
            os.fsync(journal.fileno())
    finally:
        lock.release()
    warn(
        f"{path}: its last record was cut short ({len(data) - start} bytes, e.g. a full disk "
        f"or a crash mid-write); moved to {torn}, the study goes on from the records before it"
    )
    return torn
