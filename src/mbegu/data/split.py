"""The seeded, stratified train/val/test split and the `prepare` stage's folder.

The folder holds train.csv, val.csv and test.csv (the original columns and values of each
split's rows), encoder.json (fitted on train) and manifest.json (what it was made from: the
source files' md5 and the data options). A different manifest means it must be redone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from mbegu.errors import MbeguError
from mbegu.io import atomic_dir

SPLITS = ("train", "val", "test")
MANIFEST, ENCODER = "manifest.json", "encoder.json"


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
    found.pop("rows", None)
    return found == manifest


def write_prepared(
    out_dir: Path,
    frames: dict[str, pd.DataFrame],
    encoder: dict[str, Any],
    manifest: dict[str, Any],
) -> dict[str, int]:
    """Write the split, the encoder and the manifest, all or nothing."""
    from mbegu.data.files import write_frame

    rows = {name: len(frame) for name, frame in frames.items()}
    with atomic_dir(out_dir) as tmp:
        for name, frame in frames.items():
            write_frame(frame, tmp / f"{name}.csv")
        (tmp / ENCODER).write_text(json.dumps(encoder, indent=1, sort_keys=True) + "\n")
        (tmp / MANIFEST).write_text(json.dumps({**manifest, "rows": rows}, indent=2) + "\n")
    return rows


def read_encoder(out_dir: Path) -> dict[str, Any]:
    """The fitted encoder's JSON form from the `prepare` stage's folder."""
    return json.loads((out_dir / ENCODER).read_text())
