"""Checks on a data file that pandas would otherwise settle in silence.

Each one turns a quiet guess into a line the user reads: an error when the data cannot mean
what the file says, a warning when it may.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.cells import row_number

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd


def refuse_duplicate_columns(path: Path, names: list[Any]) -> None:
    """Two columns with one name: pandas would rename the second (`age.1`).

    The model would learn from a column the file never names. The header (`names`, as the file
    spells them) must name each column once.
    """
    counts = Counter(str(name) for name in names)
    twice = [name for name, count in counts.items() if count > 1]
    if not twice:
        return

    def where(name: str) -> str:
        times = "twice" if counts[name] == 2 else f"{counts[name]} times"
        columns = ", ".join(str(i + 1) for i, other in enumerate(names) if str(other) == name)
        return f"{name!r} {times} (columns {columns})"

    raise MbeguError(
        f"{path} has the column name {', '.join(where(name) for name in twice[:5])}: rename "
        f"the duplicates in the file's header so each column has a name of its own"
    )


def _spelling(label: str) -> str:
    return label.strip().lower()


def look_alike_labels(frame: Any, target: str, where: str, normalize: bool) -> Any:
    """Labels that differ only in case or surrounding spaces are most often one class.

    "Positive" and "positive " are one class typed two ways, yet each becomes a class of its own.
    Off (`normalize` false), they stay as they are and a warning names them; on, every label is
    stripped and lower-cased, and the labels that changed are printed.
    """
    from mbegu.features.labels import as_text

    texts = [as_text(v) for v in frame[target].tolist()]
    found = sorted({t for t in texts if t is not None})
    if normalize:
        changed = [t for t in found if _spelling(t) != t]
        if not changed:
            return frame
        shown = ", ".join(f"{t!r} -> {_spelling(t)!r}" for t in changed[:20])
        print(
            f"{where}: data.label_normalize maps {target} {shown}{' ...' * (len(changed) > 20)}",
            flush=True,
        )
        frame = frame.copy()
        frame[target] = [None if t is None else _spelling(t) for t in texts]
        return frame
    groups: dict[str, list[str]] = {}
    for label in found:
        groups.setdefault(_spelling(label), []).append(label)
    alike = [group for group in groups.values() if len(group) > 1]
    if alike:
        from mbegu.errors import warn

        shown = " and ".join("(" + ", ".join(map(repr, group)) + ")" for group in alike[:5])
        warn(
            f"{where}: labels of {target} that differ only in case or surrounding spaces are "
            f"separate classes: {shown}; merge them with data.label_normalize=true (strips "
            f"and lower-cases every label), or fix them in the file"
        )
    return frame


# A day, with or without a time: 2024-03-01, 2024-03-01T12:00, 01/03/2024, 1.3.24.
DATE = r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}.*)?|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"


def warn_dates(frame: Any, columns: list[str], where: str) -> None:
    """A column of dates read as categories makes each day a category of its own.

    A day is a category that new data never has: the model learns nothing from it. Worth saying,
    not refusing (a few dates can be real categories, such as a fixed list of survey rounds).
    """
    import warnings

    import pandas as pd

    dated = []
    for column in columns:
        present = frame[column].dropna().astype(str).str.strip()
        sample = present.drop_duplicates().head(200)
        if sample.empty or not sample.str.fullmatch(DATE).mean() >= 0.9:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "could not infer format, falling back to ..."
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed", dayfirst=False)
        if parsed.notna().mean() >= 0.9:
            dated.append(f"{column} (e.g. {sample.iloc[0]!r})")
    if dated:
        from mbegu.errors import warn

        warn(
            f"{where}: {', '.join(dated)} look like dates, which would become categories (a "
            f"category per day, unseen in new data): drop them (data.drop) or derive features "
            f"from them (year, month, weekday) in new columns"
        )


def refuse_continuous_target(labels: list[str], rows: int, target: str, where: str) -> None:
    """Refuse a target of measurements: mbegu trains classifiers.

    A target of measurements (incomes, prices, ages) would become hundreds of classes of a row or
    two each. Refused when the labels are all numbers, more than 20 different ones, and either some
    are fractions or they are a tenth of the rows or more. Naming the classes in data.classes says
    they are classes after all.
    """
    import math

    if len(labels) <= 20:
        return
    try:
        values = [float(label) for label in labels]
    except ValueError:
        return  # text labels: classes whatever their number
    if not all(math.isfinite(v) for v in values):
        return
    fractions = any(not v.is_integer() for v in values)
    if not fractions and len(labels) < 0.1 * rows:
        return
    shown = ", ".join(labels[:3])
    raise MbeguError(
        f"{where}: target {target} holds {len(labels)} different numbers in {rows} rows (e.g. "
        f"{shown}): mbegu classifies, and this target looks continuous; pick a label column "
        f"with a few classes, bin it into classes in a new column, or list its values in "
        f"data.classes if they are classes"
    )


def apply_missing(
    frame: pd.DataFrame, checked: list[str], missing: str, path: Path
) -> pd.DataFrame:
    """data.missing over the input columns and the label (last in `checked`).

    error names the first gap; drop leaves out rows with gaps; impute keeps them (the encoder fills
    them). A row without a label is never imputed.
    """
    absent = frame[checked].isna().to_numpy()
    if not absent.any():
        return frame
    if missing == "error":
        i, j = (int(x) for x in np.argwhere(absent)[0])
        raise MbeguError(
            f"{path} row {row_number(i)} column {checked[j]} is missing: fill it, or set "
            f"data.missing=drop (leave such rows out) or data.missing=impute"
        )
    # One flag per row (numpy types any(axis=1) as possibly a lone bool).
    gone = cast("npt.NDArray[np.bool_]", absent.any(axis=1) if missing == "drop" else absent[:, -1])
    if gone.any():
        why = "a missing value" if missing == "drop" else "no label"
        print(
            f"{path}: data.missing={missing} leaves out {int(gone.sum())} of "
            f"{len(frame)} rows ({why})",
            flush=True,
        )
    return frame[~gone].reset_index(drop=True)
