"""`data=table`: numeric and categorical columns -> one standardised / one-hot vector.

The encoding itself is features.table.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.data.base import FileData
from mbegu.data.checks import warn_dates
from mbegu.errors import MbeguError
from mbegu.features import Encoder
from mbegu.features.cells import numeric_values, to_numbers
from mbegu.features.table import TableEncoder

if TYPE_CHECKING:
    import pandas as pd


class TableData(FileData):
    """`data=table`: numeric and categorical columns -> one standardised / one-hot vector.

    Args:
        target: The label column.
        features: The input columns; None: every column but the target and data.drop.
        categorical: Columns to one-hot encode; None: the columns that are not all numbers.
        **kwargs: The options every kind shares (FileData).
    """

    kind = "table"

    def __init__(
        self,
        target: str,
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(target, **kwargs)
        self.features = [str(c) for c in features] if features else None
        self.categorical = [str(c) for c in categorical] if categorical is not None else None

    def options(self) -> dict[str, Any]:
        """The shared options plus `features` and `categorical`.

        Returns:
            Each option's name and value.
        """
        return {**super().options(), "features": self.features, "categorical": self.categorical}

    def input_columns(self, frame: pd.DataFrame, where: str) -> list[str]:
        """data.features, else every column but the target and data.drop.

        Args:
            frame: The rows of one source file.
            where: The file, as error lines name it.

        Returns:
            The input column names, in order.

        Raises:
            MbeguError: A column named in data.features, data.drop or data.categorical is not in the
                file, or no input column other than the target is left.
        """
        columns = [str(c) for c in frame.columns]
        named = [*(self.features or []), *self.drop, *(self.categorical or [])]
        unknown = [c for c in named if c not in columns]
        if unknown:
            raise MbeguError(
                f"{where} has no column {unknown[0]!r} (named in data.features, data.drop or "
                f"data.categorical): its columns are {', '.join(columns[:8])}"
            )
        chosen = self.features or [c for c in columns if c != self.target and c not in self.drop]
        chosen = [c for c in chosen if c not in self.drop]
        if self.target in chosen or not chosen:
            raise MbeguError(
                f"data.features must name input columns other than the target {self.target!r}"
            )
        return chosen

    def check_values(self, frame: pd.DataFrame, columns: list[str], path: Path) -> None:
        """An infinity in a column of numbers, found in the file, not later in a split.

        Found in the file, the error names the row a spreadsheet shows, not a row of a split, whose
        numbers the user cannot see. Date-like columns read as categories get a warning.

        Args:
            frame: The rows of one source file, before the split.
            columns: The input columns.
            path: The file, as the error names it.

        Raises:
            MbeguError: An infinity in a column of numbers.
        """
        not_numbers = []
        for column in columns:
            if column in (self.categorical or ()):
                continue
            values = to_numbers(frame[column])  # once: the check and the encoder's check share it
            if is_numeric(frame[column], values):
                numeric_values(frame, column, str(path), values=values)  # the encoder's own check
            else:
                not_numbers.append(column)
        warn_dates(frame, not_numbers, str(path))

    def fit_encoder(self, train: pd.DataFrame, columns: list[str], classes: list[str]) -> Encoder:
        """Fit the table encoder; data.categorical null: the columns that are not all numbers.

        Args:
            train: The train split's rows.
            columns: The input columns.
            classes: The class names, in order.

        Returns:
            The fitted TableEncoder.

        Raises:
            MbeguError: A column of numbers with a few stray words (refuse_stray_text).
        """
        categorical = self.categorical
        numbers = {c: to_numbers(train[c]) for c in columns if c not in (categorical or ())}
        if categorical is None:  # null: the columns that are not all numbers
            categorical = [c for c in columns if not is_numeric(train[c], numbers[c])]
            for column in categorical:
                refuse_stray_text(train[column], column)
        return TableEncoder.fit(
            train,
            self.target,
            columns,
            [c for c in columns if c in categorical],
            classes,
            self.missing,
            numbers,
        )


def is_numeric(column: pd.Series, values: np.ndarray | None = None) -> bool:
    """Whether every present value of a column reads as a number (booleans do not).

    `values`: the column's to_numbers, where the caller has it.
    """
    import pandas as pd

    if pd.api.types.is_bool_dtype(column):
        return False
    present = column.notna().to_numpy()
    values = to_numbers(column) if values is None else values
    return bool(present.any()) and not bool((np.isnan(values) & present).any())


def refuse_stray_text(column: pd.Series, name: str) -> None:
    """A column of numbers with a few stray words is a typo, not a category.

    One-hot encoding it would silently change what the column means.
    """
    import pandas as pd

    present = column.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and numbers.notna().mean() >= 0.9:
        i = int(numbers.isna().to_numpy().argmax())
        raise MbeguError(
            f"the train split's column {name} holds numbers but also {present.iloc[i]!r}: fix "
            f"that value, or list {name} in data.categorical to treat it as categories"
        )
