"""Checks on a data file that pandas would otherwise settle in silence.

Each one turns a quiet guess into a line the user reads: an error when the data cannot mean
what the file says, a warning when it may.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError


def refuse_duplicate_columns(path: Path, names: list[Any]) -> None:
    """Two columns with one name: pandas renames the second (`age.1`) and the model would
    learn from a column the file never names. The header (`names`, as the file spells them)
    must name each column once."""
    counts = Counter(str(name) for name in names)
    twice = [name for name, count in counts.items() if count > 1]
    if not twice:
        return

    def where(name: str) -> str:
        times = "twice" if counts[name] == 2 else f"{counts[name]} times"
        columns = ", ".join(str(i + 1) for i, other in enumerate(names) if str(other) == name)
        return f"{name!r} {times} (columns {columns})"

    raise MbeguError(
        f"{path} has the column name {', '.join(where(name) for name in twice[:5])}: rename "
        f"the duplicates in the file's header so each column has a name of its own"
    )
