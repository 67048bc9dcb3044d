"""Data: provenance of the raw CSV, validation of bad files, the seeded stratified split."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbegu.data.split import load_split, prepare_split, stratified_split
from mbegu.data.validate import read_table
from mbegu.errors import MbeguError

from .conftest import REPO


def test_raw_csv_regenerates_byte_for_byte(digits_text: str) -> None:
    """The committed DVC data is exactly what `mbegu data digits` writes."""
    dir_md5 = yaml.safe_load((REPO / "data.dvc").read_text())["outs"][0]["md5"]
    manifest = REPO / ".dvc" / "storage" / "files" / "md5" / dir_md5[:2] / dir_md5[2:]
    entries = json.loads(manifest.read_text())
    assert hashlib.md5(manifest.read_bytes()).hexdigest() == dir_md5.removesuffix(".dir")
    [entry] = [e for e in entries if e["relpath"] == "digits.csv"]
    assert hashlib.md5(digits_text.encode()).hexdigest() == entry["md5"]


def test_raw_csv_shape(tmp_path: Path, digits_text: str) -> None:
    path = tmp_path / "digits.csv"
    path.write_text(digits_text)
    features, labels, columns = read_table(path, 64, 10)
    assert features.shape == (1797, 64) and labels.shape == (1797,)
    assert columns[0] == "pixel_0" and columns[-1] == "pixel_63"
    assert features.min() == 0 and features.max() == 16
    assert set(labels.tolist()) == set(range(10))


def _corrupt(digits_text: str, how: str) -> str:
    lines = digits_text.splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    if how == "columns":
        lines[0] = ",".join(["pix_0", *header[1:]])
    elif how == "label":
        lines[1] = ",".join([*first[:-1], "12"])
    elif how == "nan":
        lines[1] = ",".join(["", *first[1:]])
    elif how == "text":
        lines[1] = ",".join(["abc", *first[1:]])
    elif how == "empty":
        lines = lines[:1]
    elif how == "ragged":
        lines[1] = ",".join([*first, "1", "2"])
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("columns", "wrong columns"),
        ("label", "label 12, outside 0..9"),
        ("nan", "is missing (NaN)"),
        ("text", "is not a number ('abc')"),
        ("empty", "has no rows"),
        ("ragged", "not a readable CSV"),
    ],
)
def test_bad_csv_is_refused_and_nothing_written(
    tmp_path: Path, digits_text: str, how: str, expected: str
) -> None:
    raw = tmp_path / "data" / "digits.csv"
    raw.parent.mkdir()
    raw.write_text(_corrupt(digits_text, how))
    out = tmp_path / "processed"
    with pytest.raises(MbeguError) as err:
        prepare_split(raw, out, 64, 10, 0.15, 0.15, 0)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".processed")]


def test_missing_data_says_dvc_pull(tmp_path: Path) -> None:
    with pytest.raises(MbeguError, match=r"not found: run `dvc pull`"):
        read_table(tmp_path / "data" / "digits.csv", 64, 10)


def test_split_is_stratified_disjoint_and_seeded() -> None:
    labels = np.repeat(np.arange(10), 100)
    parts = stratified_split(labels, 0.2, 0.1, seed=3)
    rows = np.concatenate(list(parts.values()))
    assert len(rows) == len(np.unique(rows)) == len(labels)
    for cls in range(10):
        assert (labels[parts["val"]] == cls).sum() == 20
        assert (labels[parts["test"]] == cls).sum() == 10
    again = stratified_split(labels, 0.2, 0.1, seed=3)
    other = stratified_split(labels, 0.2, 0.1, seed=4)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    assert not np.array_equal(parts["test"], other["test"])


def test_prepare_writes_split_and_skips_when_up_to_date(tmp_path: Path, digits_text: str) -> None:
    raw = tmp_path / "digits.csv"
    raw.write_text(digits_text)
    out = tmp_path / "processed"
    rows = prepare_split(raw, out, 64, 10, 0.15, 0.15, 42)
    assert sum(rows.values()) == 1797
    x_test, y_test = load_split(out / "test.csv")
    assert x_test.shape == (rows["test"], 64) and len(y_test) == rows["test"]
    stamp = (out / "train.csv").stat().st_mtime_ns
    prepare_split(raw, out, 64, 10, 0.15, 0.15, 42)
    assert (out / "train.csv").stat().st_mtime_ns == stamp  # nothing redone
    prepare_split(raw, out, 64, 10, 0.2, 0.15, 42)
    assert load_split(out / "val.csv")[0].shape[0] > rows["val"]  # new settings, new split
