"""The table encoder: the user's own columns in, one float vector per row out.

Numeric columns stay floats and are standardised with the train split's mean and spread;
categorical columns are one-hot encoded over the categories seen in training (an unseen one is
all zeros, so new data never breaks the model); missing values are refused or imputed with the
train split's median / most frequent value, as `data.missing` says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.cells import (
    class_indices,
    numeric_values,
    require_columns,
    row_number,
    text_values,
)

if TYPE_CHECKING:
    import pandas as pd
    import torch

MISSING_POLICIES = ("error", "drop", "impute")


@dataclass
class TableEncoder:
    """Fitted on the train split (`fit`), saved as JSON (`to_dict`), applied anywhere."""

    target: str
    classes: list[str]
    columns: list[str]  # the input columns, in file order
    numeric: list[str]
    categorical: list[str]
    means: list[float]
    scales: list[float]
    categories: dict[str, list[str]]
    missing: str = "error"
    fills: dict[str, float | str] = field(default_factory=dict)  # data.missing=impute
    kind: str = "table"

    @property
    def input_size(self) -> int:
        """The width of the encoded row: numeric columns plus one slot per category."""
        return len(self.numeric) + sum(len(self.categories[c]) for c in self.categorical)

    @property
    def sizes(self) -> dict[str, int]:
        """What a network is built with: no count is typed by hand."""
        return {"in_features": self.input_size, "num_classes": len(self.classes)}

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        target: str,
        columns: list[str],
        categorical: list[str],
        classes: list[str],
        missing: str,
        numbers: dict[str, np.ndarray] | None = None,
    ) -> TableEncoder:
        """Fit on the train split: each numeric column's mean, scale and fill, each category list.

        Args:
            train: The train split's rows.
            target: The label column.
            columns: The input columns, in file order.
            categorical: Those of them to one-hot encode; the rest are numbers.
            classes: The class names, in order.
            missing: data.missing; "impute" also keeps a fill per column (median, most frequent).
            numbers: Columns already parsed by to_numbers, by name: not parsed again; each is
                taken out of the dict as it is used.

        Returns:
            The fitted encoder.

        Raises:
            MbeguError: A column has no value in the train split.
        """
        numeric = [c for c in columns if c not in categorical]
        means: list[float] = []
        scales: list[float] = []
        fills: dict[str, float | str] = {}
        for column in numeric:
            # Dropped once used: a big split's numbers are not all held while categories are read.
            parsed = numbers.pop(column, None) if numbers else None
            values = numeric_values(train, column, "the train split", values=parsed)
            seen = values[~np.isnan(values)]
            if not len(seen):
                raise MbeguError(
                    f"column {column} has no value in the train split: drop it (data.drop)"
                )
            scale = float(seen.std())
            means.append(float(seen.mean()))
            scales.append(scale if scale > 0 else 1.0)
            if missing == "impute":
                fills[column] = float(np.median(seen))
        categories = {}
        for column in categorical:
            seen_text = [v for v in text_values(train, column) if v is not None]
            categories[column] = sorted(set(seen_text))
            if missing == "impute" and seen_text:
                counts: dict[str, int] = {}
                for v in seen_text:
                    counts[v] = counts.get(v, 0) + 1
                fills[column] = min(counts, key=lambda v: (-counts[v], v))
        return cls(
            target,
            classes,
            columns,
            numeric,
            categorical,
            means,
            scales,
            categories,
            missing,
            fills,
        )

    def labels(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """Each row's class index, refused for a label outside the classes."""
        return class_indices(frame, self.target, self.classes, where)

    def transform(
        self, frame: pd.DataFrame, where: str = "the input", start: int = 0
    ) -> torch.Tensor:
        """A float32 tensor [rows, input_size]: what the network reads.

        `start`: the frame's first row in its file (a chunk of it), as an error names rows.
        """
        import torch

        return torch.from_numpy(self.matrix(frame, where, start))

    def matrix(self, frame: pd.DataFrame, where: str = "the input", start: int = 0) -> np.ndarray:
        """The numbers transform gives, as a float32 array: for a runtime without torch (ONNX)."""
        require_columns(frame, self.columns, where)
        out = np.zeros((len(frame), self.input_size), dtype=np.float32)
        for j, column in enumerate(self.numeric):
            values = numeric_values(frame, column, where, start)
            values = self._fill(values, np.isnan(values), column, where, start)
            out[:, j] = (values - self.means[j]) / self.scales[j]
        offset = len(self.numeric)
        for column in self.categorical:
            # str | None: `texts` may hold gaps as far as its type says (filled or refused below).
            known: dict[str | None, int] = {
                name: k for k, name in enumerate(self.categories[column])
            }
            texts = text_values(frame, column)
            absent = np.array([v is None for v in texts], dtype=bool)
            if absent.any():
                filled = self._fill(np.array(texts, dtype=object), absent, column, where, start)
                texts = list(filled)
            codes = np.array([known.get(v, -1) for v in texts], dtype=np.int64)
            hit = codes >= 0
            out[np.flatnonzero(hit), offset + codes[hit]] = 1.0
            offset += len(known)
        return out

    def _fill(
        self, values: np.ndarray, absent: np.ndarray, column: str, where: str, start: int
    ) -> np.ndarray:
        if not absent.any():
            return values
        if column not in self.fills:
            i = int(np.argmax(absent))
            raise MbeguError(
                f"{where} row {row_number(start + i)} column {column} is missing: fill it (the "
                f"model was trained with data.missing={self.missing}; data.missing=impute fills "
                f"gaps)"
            )
        values = values.copy()
        values[absent] = self.fills[column]
        return values

    def to_dict(self) -> dict[str, Any]:
        """The encoder as plain JSON data (saved with the model, never pickled)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableEncoder:
        """The encoder from its to_dict form; malformed fields raise ValueError."""
        encoder = cls(**data)
        lists = (encoder.classes, encoder.columns, encoder.numeric, encoder.categorical)
        if not all(isinstance(x, list) for x in lists) or encoder.missing not in MISSING_POLICIES:
            raise ValueError("wrong field types")
        if len(encoder.means) != len(encoder.numeric) or len(encoder.scales) != len(
            encoder.numeric
        ):
            raise ValueError("one mean and one scale per numeric column")
        if set(encoder.categories) != set(encoder.categorical):
            raise ValueError("one category list per categorical column")
        return encoder
