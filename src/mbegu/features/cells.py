"""Cells read from the user's rows: numbers, texts and labels, refused by the file's row.

What the encoders, the data checks and `mbegu predict` share: a cell is parsed from exactly what
the file says and never cast, and a bad one is one error line naming the row a spreadsheet shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.labels import as_text

if TYPE_CHECKING:
    import pandas as pd


def row_number(position: int) -> int:
    """The row a spreadsheet shows for a 0-based data row: the header is row 1."""
    return position + 2


def require_columns(frame: pd.DataFrame, columns: list[str], where: str) -> None:
    """Refuse rows that lack any of the model's input columns, naming the first few.

    Args:
        frame: The rows to check.
        columns: The columns they need.
        where: The rows' file or split, as the error names it.

    Raises:
        MbeguError: A column is missing.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        raise MbeguError(
            f"{where} lacks {len(missing)} column(s) the model needs ({shown}): give it the "
            f"training columns {', '.join(columns[:4])}{', ...' if len(columns) > 4 else ''}"
        )


def to_numbers(raw: pd.Series) -> np.ndarray:
    """A column parsed as float64, NaN where a cell is missing or not a number.

    Parsing text into numbers is most of what checking a large table costs: callers that check
    and then use a column parse it once and pass the result on.
    """
    import pandas as pd

    return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def numeric_values(
    frame: pd.DataFrame,
    column: str,
    where: str,
    start: int = 0,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """A column as float64 (NaN where missing); text or infinities are refused, never cast.

    `start`: the frame's first row in its file, so an error names the file's row. `values`:
    the column's to_numbers, where the caller has it.
    """
    raw = frame[column]
    values = to_numbers(raw) if values is None else values
    bad = np.isnan(values) & raw.notna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise MbeguError(
            f"{where} row {row_number(start + i)} column {column} is not a number "
            f"({raw.iloc[i]!r}): fix the value, or list {column} in data.categorical"
        )
    if np.isinf(values).any():
        i = int(np.argmax(np.isinf(values)))
        raise MbeguError(
            f"{where} row {row_number(start + i)} column {column} is infinite "
            f"({raw.iloc[i]!r}): fix or drop that row"
        )
    return values


def text_values(frame: pd.DataFrame, column: str) -> list[str | None]:
    """A column's cells as text (as_text): None for a missing one."""
    return [as_text(v) for v in frame[column].tolist()]


def class_indices(frame: pd.DataFrame, target: str, classes: list[str], where: str) -> np.ndarray:
    """The target column as class indices (int64); a missing or unknown label is one line."""
    if target not in frame.columns:
        raise MbeguError(f"{where} has no target column {target!r}: check data.target")
    index = {name: k for k, name in enumerate(classes)}
    texts = text_values(frame, target)
    codes = np.array([index.get(v, -1) if v is not None else -2 for v in texts], dtype=np.int64)
    if (codes < 0).any():
        i = int(np.argmax(codes < 0))
        if codes[i] == -2:
            raise MbeguError(
                f"{where} row {row_number(i)} has no {target} (missing label): fill it, or set "
                f"data.missing=drop to leave such rows out"
            )
        raise MbeguError(
            f"{where} row {row_number(i)} has {target}={texts[i]!r}, not one of the classes "
            f"{classes[:6]}{'...' if len(classes) > 6 else ''}: fix it or add it to data.classes"
        )
    return codes
