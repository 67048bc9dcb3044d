"""Encoding a split for training: what a person watching a terminal sees while it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.features import Encoder


def encoded(encoder: Encoder, frame: pd.DataFrame, where: str, split: str) -> Any:
    """encoder.transform(frame); a big table's rows in chunks under a bar on a terminal.

    The chunks give the same numbers as one call: each row is encoded on its own.
    """
    from mbegu.features.table import TableEncoder
    from mbegu.progress import BIG_FRAME, CHUNK_ROWS, rows_bar

    bar = rows_bar(f"encoding the {split} split", len(frame) >= BIG_FRAME, len(frame))
    if bar is None or not isinstance(encoder, TableEncoder):
        return encoder.transform(frame, where)
    import numpy as np
    import torch

    parts = []
    with bar:
        for start in range(0, len(frame), CHUNK_ROWS):
            parts.append(encoder.matrix(frame.iloc[start : start + CHUNK_ROWS], where, start))
            bar.update(len(parts[-1]))
    return torch.from_numpy(np.concatenate(parts))
