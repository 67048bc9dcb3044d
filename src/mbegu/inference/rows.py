"""Which input row each prediction answers: every line of the file gets one, in order.

pandas skips blank lines, so predictions used to come out fewer than the rows and out of step
with them. A blank line is now a row of missing values, which the model's data.missing policy
handles (impute fills it; error names its line), and the output carries the input's id
columns (those the model's data config dropped, or `--id`'s), else its row number.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK_ROWS = 100_000  # rows read, predicted and written at a time: memory stays bounded


def read_rows(path: Path, rows: int | None = None) -> Iterator[Any]:
    """The input's rows, `rows` at a time, as read_frame(path, blank_lines=True) reads them.

    Each chunk's index is its rows' 0-based positions in the file; at least one chunk comes,
    empty for a file of no rows. Blank lines that end a CSV or TSV are held back until the end
    of the file shows they are no rows. `rows`: None reads CHUNK_ROWS at a time.
    """
    import pandas as pd

    rows = rows or CHUNK_ROWS
    from mbegu.data.checks import refuse_duplicate_columns
    from mbegu.data.files import (
        FORMATS,
        blank_lines_at_end,
        cells_as_text,
        read_frame,
        reading,
        require_file,
    )

    if FORMATS.get(path.suffix.lower(), ",") is None:  # Parquet: a batch of rows at a time
        import pyarrow.parquet as pq

        start = 0
        with reading(path):
            names = pq.read_schema(require_file(path)).names
            refuse_duplicate_columns(path, names)
            for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
                chunk = cells_as_text(batch.to_pandas())
                chunk.index = pd.RangeIndex(start, start + len(chunk))
                start += len(chunk)
                yield chunk
        if start == 0:
            yield pd.DataFrame(columns=names, dtype=object)
        return
    trailing = blank_lines_at_end(path)
    held: list[pd.DataFrame] = []
    with reading(path):
        for chunk in read_frame(path, blank_lines=True, chunksize=rows):
            held.append(chunk)
            while len(held) > 1 and sum(map(len, held[1:])) >= trailing:
                yield held.pop(0)
    if not held:  # a header and no rows
        held.append(read_frame(path, blank_lines=True))
    rest = pd.concat(held)
    yield rest.iloc[: max(len(rest) - trailing, 0)]


def row_ids(frame: Any, columns: list[str], first_row: int = 0) -> dict[str, list[Any]]:
    """{column: values} that name each row in the output.

    The given id columns the input holds, as the file spells them, else `row`, the file's row
    number (the header is row 1, as in a spreadsheet and in mbegu's error lines); `first_row`:
    the frame's first row in the file.
    """
    from mbegu.features.cells import row_number
    from mbegu.features.labels import as_text

    found = {c: [as_text(v) for v in frame[c].tolist()] for c in columns if c in frame.columns}
    return found or {"row": [row_number(first_row + i) for i in range(len(frame))]}
