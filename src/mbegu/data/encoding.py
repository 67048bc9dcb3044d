"""Encoding a split for training in chunks: bounded memory, and a bar a person can watch.

A table's split is encoded CHUNK_ROWS rows at a time into one array allocated once, so the
intermediate numbers of a whole split (a float64 copy of every column) never exist at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mbegu.features import Encoder


def fill_chunks(
    chunks: Iterable[pd.DataFrame],
    total: int,
    encode: Callable[[pd.DataFrame, int], np.ndarray],
    bar: Any = None,
) -> np.ndarray:
    """One float32 array [total, width] from the chunks' encodings, in order.

    Args:
        chunks: The rows, in consecutive chunks.
        total: The rows in all chunks.
        encode: (chunk, its first row) -> the chunk's float32 rows.
        bar: A rows bar to update (progress.rows_bar), or None.

    Returns:
        The encoded rows.
    """
    import contextlib

    import numpy as np

    out: np.ndarray | None = None
    start = 0
    with bar if bar is not None else contextlib.nullcontext():
        for chunk in chunks:
            part = encode(chunk, start)
            if out is None:
                out = np.empty((total, part.shape[1]), dtype=np.float32)
            out[start : start + len(part)] = part
            start += len(part)
            if bar is not None:
                bar.update(len(part))
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def encoded(encoder: Encoder, frame: pd.DataFrame, where: str, split: str) -> Any:
    """encoder.transform(frame); a big table's or text's rows in chunks, under a bar on a terminal.

    The chunks give the same numbers as one call: each row is encoded on its own.
    """
    import contextlib

    import torch

    from mbegu.features.table import TableEncoder
    from mbegu.features.text import TextEncoder
    from mbegu.progress import BIG_FRAME, CHUNK_ROWS, rows_bar

    if isinstance(encoder, TextEncoder) and len(frame) >= BIG_FRAME:
        texts = encoder.texts(frame, where)
        bar = rows_bar(f"encoding the {split} split", True, len(frame))
        with bar if bar is not None else contextlib.nullcontext():
            parts = encoder.bags(texts, bar.update if bar is not None else None)
        return tuple(torch.from_numpy(part) for part in parts)
    if not isinstance(encoder, TableEncoder) or len(frame) <= CHUNK_ROWS:
        return encoder.transform(frame, where)

    bar = rows_bar(f"encoding the {split} split", len(frame) >= BIG_FRAME, len(frame))
    chunks = (frame.iloc[start : start + CHUNK_ROWS] for start in range(0, len(frame), CHUNK_ROWS))
    inputs = fill_chunks(chunks, len(frame), lambda c, s: encoder.matrix(c, where, s), bar)
    return torch.from_numpy(inputs)
