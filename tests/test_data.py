"""Data: provenance of the raw CSV, validation of bad files, the seeded stratified split."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mbegu.data.sources import TableData
from mbegu.data.split import read_split, stratified_split
from mbegu.errors import MbeguError

from .helpers.project import REPO


def test_raw_csv_regenerates_byte_for_byte(digits_text: str) -> None:
    """The versioned example data is exactly what `mbegu data digits` writes."""
    dir_md5 = yaml.safe_load((REPO / "data.dvc").read_text())["outs"][0]["md5"]
    # The bundled remote holds the example's manifest; once you add your own files to data/,
    # the new manifest is in your cache until you push to your own remote.
    for base in (".dvc/storage/files/md5", ".dvc/cache/files/md5"):
        manifest = REPO / base / dir_md5[:2] / dir_md5[2:]
        if manifest.is_file():
            break
    else:
        pytest.skip("data.dvc's manifest is in neither the bundled remote nor the cache")
    assert hashlib.md5(manifest.read_bytes()).hexdigest() == dir_md5.removesuffix(".dir")
    entries = [e for e in json.loads(manifest.read_text()) if e["relpath"] == "digits.csv"]
    if not entries:
        pytest.skip("this project no longer versions the digits example")
    assert hashlib.md5(digits_text.encode()).hexdigest() == entries[0]["md5"]


def _digits(root: Path, text: str, **options) -> TableData:
    raw = root / "data" / "digits.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(text)
    return TableData(
        "label", path=str(raw), processed_dir=str(root / "processed"), seed=42, **options
    )


def test_digits_as_a_table(tmp_path: Path, digits_text: str) -> None:
    data = _digits(tmp_path, digits_text)
    encoder = data.load()
    assert encoder.columns[0] == "pixel_0" and encoder.columns[-1] == "pixel_63"
    assert encoder.categorical == [] and encoder.classes == [str(c) for c in range(10)]
    assert data.sizes == {"in_features": 64, "num_classes": 10}
    x, y = data.tensors("train")
    assert x.shape == (len(data.frames["train"]), 64) and x.dtype.is_floating_point
    assert abs(float(x.mean())) < 0.05  # standardised with the train split's statistics
    assert set(y.tolist()) == set(range(10))


def _corrupt(digits_text: str, how: str) -> str:
    lines = digits_text.splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    if how == "target":
        lines[0] = ",".join([*header[:-1], "labels"])
    elif how == "nan":
        lines[5] = ",".join(["", *lines[5].split(",")[1:]])
    elif how == "text":
        lines[1] = ",".join([first[0], "abc", *first[2:]])
    elif how == "inf":  # deep in the file: the row named must be the file's, not a split's
        lines[40] = ",".join(["inf", *lines[40].split(",")[1:]])
    elif how == "empty":
        lines = lines[:1]
    elif how == "ragged":
        lines[1] = ",".join([*first, "1", "2"])
    elif how == "rare":
        lines = lines[:1] + [line for line in lines[1:] if not line.endswith(",9")] + lines[-2:]
        lines[-1] = ",".join([*lines[-1].split(",")[:-1], "9"])
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("how", "options", "expected"),
    [
        ("target", {}, "has no column 'label' (data.target): its columns are pixel_0"),
        ("nan", {}, "row 6 column pixel_0 is missing: fill it, or set data.missing=drop"),
        ("text", {"categorical": []}, "row 2 column pixel_1 is not a number ('abc')"),
        ("inf", {}, "digits.csv row 41 column pixel_0 is infinite ('inf')"),
        ("empty", {}, "has no rows"),
        ("ragged", {}, "is not a readable table"),
        ("rare", {}, "class '9' has 2 rows, too few to stratify"),
        ("nan", {"missing": "sometimes"}, "data.missing='sometimes': use one of error, drop"),
        ("nan", {"classes": list(range(9))}, "has label='9', not one of the classes"),
        ("nan", {"features": ["pixel_0", "nope"]}, "has no column 'nope' (named in data.f"),
    ],
)
def test_bad_data_is_one_line_and_nothing_written(
    tmp_path: Path, digits_text: str, how: str, options: dict, expected: str
) -> None:
    options = {"missing": "drop", **options} if how in ("nan",) and options else options
    with pytest.raises(MbeguError) as err:
        _digits(tmp_path, _corrupt(digits_text, how), **options).prepare()
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "processed").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".processed")]


def test_missing_data_says_dvc_pull(tmp_path: Path) -> None:
    data = TableData("label", path=str(tmp_path / "data" / "digits.csv"))
    with pytest.raises(MbeguError, match=r"not found: run `dvc pull`"):
        data.prepare()


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
    rows = _digits(tmp_path, digits_text).prepare()
    out = tmp_path / "processed"
    assert sum(rows.values()) == 1797
    assert sorted(p.name for p in out.iterdir()) == [
        "encoder.json",
        "manifest.json",
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]
    stamp = (out / "train.parquet").stat().st_mtime_ns
    again = _digits(tmp_path, digits_text)
    again.prepare()
    assert (out / "train.parquet").stat().st_mtime_ns == stamp  # nothing redone
    assert again.load().to_dict() == _digits(tmp_path, digits_text).build()[1].to_dict()
    _digits(tmp_path, digits_text, val_fraction=0.2).prepare()
    assert len(read_split(out / "val.parquet")) > rows["val"]  # new split


def test_a_blank_line_to_predict_is_a_row_named_by_its_line(tmp_path: Path) -> None:
    """Every line after the header answers: a blank one is a row of missing values, and the
    output names rows by the file's line, or by the id columns the model's config dropped."""
    import pandas as pd

    from mbegu.inference.rows import read_rows, row_ids

    path = tmp_path / "new.csv"
    path.write_text("id,a,b\nx,1,2\n\ny,3,4\n\n\n")
    # Read a few rows at a time: the blank lines that end the file are no rows, even where
    # they fill a chunk of their own; every chunk's index is its rows' place in the file.
    for rows in (1, 2, 3, 100):
        chunks = list(read_rows(path, rows))
        frame = pd.concat(chunks)
        assert list(frame.index) == [0, 1, 2], rows
        assert frame.iloc[1].isna().all()
    assert row_ids(frame, []) == {"row": [2, 3, 4]}
    assert row_ids(chunks[0].iloc[1:], [], first_row=1) == {"row": [3, 4]}
    assert list(row_ids(frame, ["other", "id", "b"])) == ["id", "b"]  # those the input has
    assert row_ids(frame, ["id"])["id"][::2] == ["x", "y"]


def test_data_digits_writes_where_data_digits_reads(project: Path, digits_text: str) -> None:
    from .helpers.cli import call_main

    paths = project / "conf" / "paths" / "default.yaml"
    paths.write_text(paths.read_text().replace("data_dir: data ", "data_dir: raw "))
    result = call_main("data", "digits", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "raw" / "digits.csv").read_text() == digits_text
