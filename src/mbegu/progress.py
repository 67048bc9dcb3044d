"""Progress over large inputs on a terminal: reading, encoding and predicting rows.

A bar (tqdm, as Lightning's epochs) only where a person watches: stderr on a terminal and an
input big enough to take seconds. In CI, logs and pipes nothing is printed, and a serving-only
install without tqdm gets no bar.
"""

from __future__ import annotations

import sys
from typing import Any

BIG_FILE = 8 << 20  # bytes: a smaller file is read before a bar would be seen
BIG_FRAME = 200_000  # rows: fewer are encoded in about a second
CHUNK_ROWS = 100_000  # rows read or encoded between two updates of a bar


def rows_bar(desc: str, big: bool, total: int | None = None) -> Any:
    """A rows-counted tqdm bar on a terminal for a big input; None anywhere else.

    Args:
        desc: What is being done, e.g. "reading data.csv".
        big: Whether the input is big enough for a bar (BIG_FILE bytes, BIG_FRAME rows).
        total: The rows to come, where known.

    Returns:
        The bar (update it by rows, close it), or None.
    """
    if not big or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return None
    return tqdm(desc=desc, total=total, unit=" rows", unit_scale=True, leave=False)
