"""Reading the raw CSV and refusing anything that is not a clean digits table."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mbegu.data.digits import LABEL, feature_columns
from mbegu.errors import MbeguError, first_line


def read_table(
    path: Path, num_features: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Return (features float32 [n, num_features], labels int64 [n], feature names).

    Expects the columns pixel_0..pixel_{num_features-1} then `label`, labels in
    0..num_classes-1, and no missing or non-numeric value.
    """
    import pandas as pd

    if not path.is_file():
        hint = "run `dvc pull` to restore it" if "data" in path.parts else "run `dvc repro`"
        raise MbeguError(f"data file {path} not found: {hint}")
    try:
        with warnings.catch_warnings():
            # A row with extra fields is only a ParserWarning to pandas: refuse it.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(path, index_col=False)
    except (
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
    ) as err:
        first = first_line(err)
        raise MbeguError(
            f"{path} is not a readable CSV ({first}): restore it with `dvc checkout data.dvc`"
        ) from None
    expected = [*feature_columns(num_features), LABEL]
    if list(frame.columns) != expected:
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        detail = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
        if not missing and not extra:
            detail = "columns out of order"
        raise MbeguError(
            f"{path} has the wrong columns ({detail}): expected pixel_0..pixel_{num_features - 1}"
            f" and label, e.g. from `mbegu data digits`"
        )
    if frame.empty:
        raise MbeguError(f"{path} has no rows: restore it with `dvc checkout data.dvc`")
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna() & ~frame.isna()
    if bad.any().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise MbeguError(
            f"{path} row {row + 2} column {frame.columns[col]} is not a number "
            f"({frame.iat[row, col]!r}): fix or drop that row"
        )
    if numeric.isna().any().any():
        row, col = np.argwhere(numeric.isna().to_numpy())[0]
        raise MbeguError(
            f"{path} row {row + 2} column {frame.columns[col]} is missing (NaN): fill or drop "
            f"the rows with missing values"
        )
    labels = numeric["label"].to_numpy()
    out_of_range = (labels < 0) | (labels >= num_classes) | (labels != np.round(labels))
    if out_of_range.any():
        row = int(np.argmax(out_of_range))
        raise MbeguError(
            f"{path} row {row + 2} has label {labels[row]:g}, outside 0..{num_classes - 1}: fix "
            f"the label or set data.num_classes"
        )
    features = numeric[expected[:-1]].to_numpy(dtype=np.float32)
    return features, labels.astype(np.int64), expected[:-1]
