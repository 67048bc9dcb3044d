"""The seeded, stratified train/val/test split and its on-disk form."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from mbegu.errors import MbeguError
from mbegu.io import atomic_dir

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"


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


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_split(
    out_dir: Path,
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    columns: list[str],
    manifest: dict,
) -> None:
    """Write train/val/test CSVs (same columns as the raw file) and a manifest, atomically."""
    header = ",".join([*columns, "label"])
    # %.9g writes every float32 exactly (integers as integers): the split never alters data.
    fmt = ["%.9g"] * len(columns) + ["%d"]
    with atomic_dir(out_dir) as tmp:
        for name, (features, labels) in splits.items():
            table = np.column_stack([features.astype(np.float64), labels])
            np.savetxt(
                tmp / f"{name}.csv", table, fmt=fmt, delimiter=",", header=header, comments=""
            )
        counts = {name: len(labels) for name, (_, labels) in splits.items()}
        (tmp / MANIFEST).write_text(json.dumps({**manifest, "rows": counts}, indent=2) + "\n")


def read_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features float32, labels int64) from one processed CSV."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    return table[:, :-1].astype(np.float32), table[:, -1].astype(np.int64)


def split_manifest(raw_path: Path, val_fraction: float, test_fraction: float, seed: int) -> dict:
    """What a split on disk was made from; a different manifest means it must be redone."""
    return {
        "raw_md5": file_md5(raw_path),
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "seed": seed,
    }


def is_prepared(
    out_dir: Path, raw_path: Path, val_fraction: float, test_fraction: float, seed: int
) -> bool:
    found = read_manifest(out_dir)
    if found is None or not raw_path.is_file():
        return False
    found.pop("rows", None)
    return found == split_manifest(raw_path, val_fraction, test_fraction, seed)


def make_split(
    raw_path: Path,
    num_features: int,
    num_classes: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str], dict]:
    """Validate the raw CSV and split it in memory: ({split: (features, labels)}, columns,
    manifest)."""
    from mbegu.data.validate import read_table

    features, labels, columns = read_table(raw_path, num_features, num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    if counts.min() < 3:
        raise MbeguError(
            f"{raw_path}: class {int(counts.argmin())} has {int(counts.min())} rows, too few "
            "to stratify into train/val/test: add rows or set data.num_classes"
        )
    indices = stratified_split(labels, val_fraction, test_fraction, seed)
    manifest = split_manifest(raw_path, val_fraction, test_fraction, seed)
    splits = {name: (features[rows], labels[rows]) for name, rows in indices.items()}
    return splits, columns, manifest


def prepare_split(
    raw_path: Path,
    out_dir: Path,
    num_features: int,
    num_classes: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> dict[str, int]:
    """Validate the raw CSV and write the split, unless an up-to-date one is on disk (the
    `prepare` stage: the only writer of the processed split). Returns each split's rows."""
    if not is_prepared(out_dir, raw_path, val_fraction, test_fraction, seed):
        splits, columns, manifest = make_split(
            raw_path, num_features, num_classes, val_fraction, test_fraction, seed
        )
        write_split(out_dir, splits, columns, manifest)
    return (read_manifest(out_dir) or {}).get("rows", {})
