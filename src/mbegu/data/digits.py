"""Provenance of the example data: scikit-learn's bundled digits written as a raw CSV.

`mbegu data digits` rewrites data/digits.csv byte for byte, so `dvc status data.dvc` shows
that the versioned data is exactly what this code produces.
"""

from __future__ import annotations

from pathlib import Path

from mbegu.io import atomic_write_text

NUM_PIXELS = 64
LABEL = "label"


def feature_columns(num_features: int) -> list[str]:
    """The raw CSV's feature column names: pixel_0 .. pixel_{num_features - 1}."""
    return [f"pixel_{i}" for i in range(num_features)]


FEATURES = feature_columns(NUM_PIXELS)


def digits_csv() -> str:
    """The CSV text: a header, then one row of 64 integer pixels (0-16) and the label per image."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    lines = [",".join([*FEATURES, LABEL])]
    for pixels, label in zip(bunch.data.astype(int), bunch.target, strict=True):
        lines.append(",".join(map(str, [*pixels.tolist(), int(label)])))
    return "\n".join(lines) + "\n"


def write_digits(path: Path) -> Path:
    """Write the digits example data set as CSV to `path`, which it returns."""
    atomic_write_text(path, digits_csv())
    return path
