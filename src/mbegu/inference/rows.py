"""Which input row each prediction answers: every line of the file gets one, in order.

pandas skips blank lines, so predictions used to come out fewer than the rows and out of step
with them. A blank line is now a row of missing values, which the model's data.missing policy
handles (impute fills it; error names its line), and the output carries the input's id
columns (those the model's data config dropped, or `--id`'s), else its row number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_rows(path: Path) -> Any:
    """The input as a DataFrame, a row per line after the header (blank lines included)."""
    from mbegu.data.files import read_frame

    return read_frame(path, blank_lines=True)


def row_ids(frame: Any, columns: list[str]) -> dict[str, list[Any]]:
    """{column: values} that name each row in the output.

    The given id columns the input holds, as the file spells them, else `row`, the file's row
    number (the header is row 1, as in a spreadsheet and in mbegu's error lines).
    """
    from mbegu.features.cells import row_number
    from mbegu.features.labels import as_text

    found = {c: [as_text(v) for v in frame[c].tolist()] for c in columns if c in frame.columns}
    return found or {"row": [row_number(i) for i in range(len(frame))]}
