"""The `prepare` stage's split read as it is needed: a split's text cells only when asked for.

Train reads a table's splits as encoded numbers, evaluate one split's cells and the labels of
the others. At ten million rows the text cells of all three splits take gigabytes, so each
split is read from its Parquet file on first use, a table's splits are encoded batch by batch
straight from the file (never held as text), and labels are read from the target column alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from mbegu.data.split import read_split, split_file

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.features.table import TableEncoder


class PreparedSplits(dict[str, "pd.DataFrame"]):
    """{split: rows} over the `prepare` stage's folder; a split is read on first use.

    `in` and iteration see the splits read so far; split_rows and column_frame answer for
    any split without reading its cells.

    Args:
        folder: The `prepare` stage's folder (data.split).
    """

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def __missing__(self, split: str) -> pd.DataFrame:
        frame = read_split(split_file(self.folder, split))
        self[split] = frame
        return frame


def complete_rows(
    frames: dict[str, pd.DataFrame], split: str, columns: list[str], rows: int
) -> pd.DataFrame:
    """The first `rows` rows of a split without a gap in these columns (the model's examples).

    An unread split is read one batch at a time until they are found, not whole.
    """
    if not streamed(frames, split):
        return frames[split][columns].dropna().head(rows)
    import pandas as pd
    import pyarrow.parquet as pq

    from mbegu.progress import CHUNK_ROWS

    parts, found = [], 0
    source = pq.ParquetFile(split_file(frames.folder, split))
    for batch in source.iter_batches(batch_size=CHUNK_ROWS, columns=columns):
        parts.append(batch.to_pandas().dropna())
        found += len(parts[-1])
        if found >= rows:
            break
    return pd.concat(parts, ignore_index=True).head(rows) if parts else frames[split][columns]


def split_rows(frames: dict[str, pd.DataFrame], split: str) -> int:
    """A split's number of rows; from its file's footer when it has not been read."""
    if not streamed(frames, split):
        return len(frames[split])
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(split_file(frames.folder, split)).metadata.num_rows)


def column_frame(frames: dict[str, pd.DataFrame], split: str, columns: list[str]) -> Any:
    """Some columns of a split; read alone from its file when it has not been read.

    The model card counts the labels of splits that train never read as text.
    """
    if not streamed(frames, split):
        return frames[split][columns]
    return read_split(split_file(frames.folder, split), columns)


def streamed(frames: dict[str, pd.DataFrame], split: str) -> TypeGuard[PreparedSplits]:
    """Whether a split is best encoded from its file: prepared, and not read already."""
    return isinstance(frames, PreparedSplits) and split not in frames


def encode_from_file(encoder: TableEncoder, frames: PreparedSplits, split: str) -> tuple[Any, Any]:
    """(inputs, labels) of a table split, encoded batch by batch from its Parquet file.

    Each batch is encoded as `encoded` encodes a chunk, into one array allocated once: the
    same numbers as encoding the whole split, in the memory of its numbers plus one batch.
    """
    import numpy as np
    import pyarrow.parquet as pq
    import torch

    from mbegu.data.encoding import fill_chunks
    from mbegu.progress import BIG_FRAME, CHUNK_ROWS, rows_bar

    where, total = f"the {split} split", split_rows(frames, split)
    source = pq.ParquetFile(split_file(frames.folder, split))
    batches = (batch.to_pandas() for batch in source.iter_batches(batch_size=CHUNK_ROWS))
    labels = np.empty(total, dtype=np.int64)

    def each(chunk: pd.DataFrame, start: int) -> Any:
        labels[start : start + len(chunk)] = encoder.labels(chunk, where)
        return encoder.matrix(chunk, where, start)

    bar = rows_bar(f"encoding the {split} split", total >= BIG_FRAME, total)
    inputs = fill_chunks(batches, total, each, bar)
    return torch.from_numpy(inputs), torch.from_numpy(labels)
