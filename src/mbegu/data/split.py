"""The seeded, stratified train/val/test split and its on-disk form."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

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
    features: np.ndarray,
    labels: np.ndarray,
    columns: list[str],
    indices: dict[str, np.ndarray],
    manifest: dict,
) -> None:
    """Write train/val/test CSVs (same columns as the raw file) and a manifest, atomically."""
    header = ",".join([*columns, "label"])
    with atomic_dir(out_dir) as tmp:
        for name, rows in indices.items():
            table = np.column_stack([features[rows].astype(np.int64), labels[rows]])
            np.savetxt(
                tmp / f"{name}.csv", table, fmt="%d", delimiter=",", header=header, comments=""
            )
        counts = {name: len(rows) for name, rows in indices.items()}
        (tmp / MANIFEST).write_text(json.dumps({**manifest, "rows": counts}, indent=2) + "\n")


def read_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def load_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features float32, labels int64) from one processed CSV."""
    table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    return table[:, :-1], table[:, -1].astype(np.int64)
