"""The seeded, stratified train/val/test split and the `prepare` stage's folder.

The folder holds train.parquet, val.parquet and test.parquet (the original columns and cells of
each split's rows, as text), encoder.json (fitted on train) and manifest.json (what it was made
from: the source files' md5 and the data options); an image data set adds its decoded pixels
(data.pixels). A different manifest, or a split file that
is not there (a folder of CSV splits from before), means it must be redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from mbegu.errors import MbeguError, first_line
from mbegu.io import atomic_dir

SPLITS = ("train", "val", "test")
MANIFEST, ENCODER = "manifest.json", "encoder.json"
# zstd at a fixed level: a split a fraction of the CSV's size, and the same bytes every time.
PARQUET = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


def split_file(out_dir: Path, split: str) -> Path:
    """Where the `prepare` stage keeps one split's rows."""
    return out_dir / f"{split}.parquet"


def stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int
) -> dict[str, np.ndarray]:
    """Row indices per split; each class is divided in the same proportions."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_test = round(len(rows) * test_fraction)
        n_val = round(len(rows) * val_fraction)
        parts["test"].append(rows[:n_test])
        parts["val"].append(rows[n_test : n_test + n_val])
        parts["train"].append(rows[n_test + n_val :])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def split_rows(
    frame: pd.DataFrame,
    codes: np.ndarray,
    classes: list[str],
    where: Path,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """One file's rows as the train, val and test splits, stratified by class and seeded.

    A class too small to reach every split is one line.
    """
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < 3:
        raise MbeguError(
            f"{where}: class {classes[int(counts.argmin())]!r} has {int(counts.min())} rows, "
            f"too few to stratify into train/val/test: add rows, or give "
            f"data.train_path/val_path/test_path"
        )
    indices = stratified_split(codes, val_fraction, test_fraction, seed)
    return {split: frame.iloc[rows].reset_index(drop=True) for split, rows in indices.items()}


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The `prepare` stage's manifest in `out_dir`, or None when it has none readable."""
    try:
        return json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def is_prepared(out_dir: Path, manifest: dict[str, Any]) -> bool:
    """Whether `out_dir` holds an encoder and a split made from exactly `manifest`."""
    found = read_manifest(out_dir)
    if found is None or not (out_dir / ENCODER).is_file():
        return False
    if not all(split_file(out_dir, split).is_file() for split in SPLITS):
        return False
    found.pop("rows", None)
    return found == manifest


def write_prepared(
    out_dir: Path,
    frames: dict[str, pd.DataFrame],
    encoder: dict[str, Any],
    manifest: dict[str, Any],
    arrays: dict[str, np.ndarray] | None = None,
) -> dict[str, int]:
    """Write the split, the encoder and the manifest, all or nothing.

    `arrays`: files to write beside them as .npy by name (an image data set's decoded pixels).
    """
    rows = {name: len(frame) for name, frame in frames.items()}
    with atomic_dir(out_dir) as tmp:
        for name, frame in frames.items():
            write_split(frame, split_file(tmp, name))
        for file_name, array in (arrays or {}).items():
            np.save(tmp / file_name, array, allow_pickle=False)
        (tmp / ENCODER).write_text(json.dumps(encoder, indent=1, sort_keys=True) + "\n")
        (tmp / MANIFEST).write_text(json.dumps({**manifest, "rows": rows}, indent=2) + "\n")
    return rows


def read_encoder(out_dir: Path) -> dict[str, Any]:
    """The fitted encoder's JSON form from the `prepare` stage's folder."""
    return json.loads((out_dir / ENCODER).read_text())


def write_split(frame: pd.DataFrame, path: Path) -> None:
    """One split's rows as Parquet: every column a string column, a missing cell a null.

    The cells are the text the source file held, so string columns keep each one as it is
    ('01', '2.72', 'NA', '' apart from missing) and reading needs no second parse. No pandas
    metadata (it names the pandas version) and fixed writer options: the same rows give the same
    bytes, which DVC and `mbegu repro-check` compare.

    Raises:
        pyarrow.ArrowTypeError: A cell is not text (the frames hold text only).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(str(column), pa.string()) for column in frame.columns])
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path, **PARQUET)


def read_split(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """One split's rows as `write_split` wrote them: text cells, missing ones NaN, in one read.

    `columns`: only these (None: all).

    Raises:
        MbeguError: The file is missing or not Parquet.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except (pa.ArrowException, OSError) as err:
        raise MbeguError(
            f"{path} is not a readable split ({first_line(err, 120)}): run `dvc repro prepare` "
            f"to write it again"
        ) from None
