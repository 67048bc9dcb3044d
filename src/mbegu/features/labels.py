"""Class labels as text: one spelling per value, whatever the file format made of it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def as_text(value: object) -> str | None:
    """A cell as the string that names it; None when missing.

    1.0 read from a column with gaps is the 1 the file holds, so the same class never gets two
    names.
    """
    if isinstance(value, str):  # what a CSV's cells are: first, as they are most of the calls
        return value
    if value is None or value is getattr(__import__("pandas"), "NA", None):
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
        return repr(float(value))
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    return str(value)


def sort_classes(names: set[str]) -> list[str]:
    """Numbers in numeric order (2 before 10), else text order.

    The same classes always come out in the same order.
    """
    try:
        return sorted(names, key=lambda name: (float(name), name))  # "1" and "1.0": both kept
    except ValueError:
        return sorted(names)


def label_values(frame: pd.DataFrame, target: str) -> set[str]:
    """The distinct labels of a column, as text (a missing label is none)."""
    return {v for v in map(as_text, frame[target].tolist()) if v is not None}
