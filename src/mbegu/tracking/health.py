"""Whether the local SQLite store is a database at all, before MLflow touches it.

A store cut short by a full disk, a half-copied backup or a stray file named mlflow.db makes
MLflow fail deep inside SQLAlchemy ("file is not a database"), which reads like a bug in
mbegu. Checked first, it is one line that names the file and says how to move it aside.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mbegu.errors import MbeguError, first_line


def check_sqlite_store(path: Path) -> None:
    """Refuse a store file that SQLite cannot read; a missing one is fine (MLflow makes it)."""
    if not path.is_file():
        return
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=20)
        try:
            connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as err:
        if "locked" in str(err):
            return  # busy, not broken: the store's retries wait for it
        raise MbeguError(
            f"the MLflow store {path} is not a readable SQLite database ({first_line(err)}): "
            f"move it aside (mv {path} {path}.broken) and rerun to start a fresh store, or "
            f"put back a backup"
        ) from None
