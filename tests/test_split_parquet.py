"""The prepared split as Parquet: the cells read back exactly, the same bytes every time."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from mbegu.data.prepared import split_rows
from mbegu.data.sources import TableData
from mbegu.data.split import SPLITS, read_split, split_file, write_prepared
from mbegu.errors import MbeguError

# Cells a CSV round trip or a typed reader gets wrong: each must come back as it went in.
TRICKY = [
    "",  # an empty string, not a missing cell
    None,
    "NA",  # a country code, not a gap
    "01",
    "2.72",
    "1e5",
    "Yorùbá ẹ̀kọ́",
    "one\nline",
    "crlf\r\ninside",
    "  spaced  ",
    "2.720",
    "null-ish",
]


def _survey(root: Path) -> TableData:
    """A small table: a numeric column, a text column and a yes/no label, 30 rows."""
    raw = root / "data" / "survey.csv"
    raw.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{i}.5,{'abc'[i % 3]},{'yes' if i % 2 else 'no'}" for i in range(30)]
    raw.write_text("age,region,answer\n" + "\n".join(rows) + "\n")
    return TableData(
        "answer", path=str(raw), processed_dir=str(root / "processed"), categorical=["region"]
    )


def _tricky_frames() -> dict[str, pd.DataFrame]:
    n = len(TRICKY)
    frame = pd.DataFrame(
        {
            "age": [f"{i}.5" for i in range(n)],
            "region": pd.array(TRICKY, dtype="str"),
            "answer": ["yes" if i % 2 else "no" for i in range(n)],
        },
        dtype="str",
    )
    return dict.fromkeys(SPLITS, frame)


def test_tricky_cells_read_back_exactly_through_the_load_path(tmp_path: Path) -> None:
    data = _survey(tmp_path)
    frames = _tricky_frames()
    encoder = data.build()[1]
    write_prepared(data.processed_dir, frames, encoder.to_dict(), data.manifest())
    fresh = _survey(tmp_path)
    fresh.load()  # the prepared folder matches: its split is read, not rebuilt
    for split in SPLITS:
        got = fresh.frames[split]
        assert got.equals(frames[split]), split
    region = fresh.frames["train"]["region"]
    assert region[0] == "" and pd.isna(region[1]) and region[2] == "NA"
    assert list(region[3:]) == TRICKY[3:]


def test_a_split_is_text_as_the_csv_held_it(tmp_path: Path) -> None:
    """Prepared from a CSV, the split read back is the frame the CSV gave: '2.720' not 2.72."""
    data = _survey(tmp_path)
    raw = Path(data.sources["all"])
    raw.write_text(raw.read_text().replace("0.5,a,", "2.720,a,", 1))
    built = data.build()[0]
    data.prepare()
    for split in SPLITS:
        assert read_split(split_file(data.processed_dir, split)).equals(built[split])
    cells = pd.concat([read_split(split_file(data.processed_dir, s)) for s in SPLITS])
    assert "2.720" in set(cells["age"])


def test_the_same_frames_give_the_same_bytes(tmp_path: Path) -> None:
    data = _survey(tmp_path)
    frames, encoder = data.build()
    digests = []
    for out in (tmp_path / "one", tmp_path / "two"):
        write_prepared(out, frames, encoder.to_dict(), data.manifest())
        digests.append(
            {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}
        )
    assert digests[0] == digests[1]
    assert set(digests[0]) == {f"{s}.parquet" for s in SPLITS} | {"encoder.json", "manifest.json"}


def test_a_folder_of_csv_splits_is_prepared_again(tmp_path: Path) -> None:
    """A folder from before (CSV splits, a matching manifest) is rebuilt, never half-read."""
    data = _survey(tmp_path)
    data.prepare()
    out = data.processed_dir
    for split in SPLITS:
        old = split_file(out, split)
        read_split(old).to_csv(out / f"{split}.csv", index=False)
        old.unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    fresh = _survey(tmp_path)
    assert {k: v for k, v in manifest.items() if k != "rows"} == fresh.manifest()
    rows = fresh.prepare()
    assert sorted(p.name for p in out.iterdir()) == [
        "encoder.json",
        "manifest.json",
        "test.parquet",
        "train.parquet",
        "val.parquet",
    ]
    assert rows == {split: len(read_split(split_file(out, split))) for split in SPLITS}


def test_a_split_that_is_not_parquet_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    path.write_text("age,region\n1,a\n")
    with pytest.raises(MbeguError) as err:
        read_split(path)
    assert "is not a readable split" in str(err.value) and "\n" not in str(err.value)


def test_a_cell_that_is_not_text_is_refused_not_cast(tmp_path: Path) -> None:
    frame = pd.DataFrame({"age": np.array([2.72, 3.0], dtype=object)})
    with pytest.raises(pa.ArrowTypeError):
        write_prepared(tmp_path / "out", {"train": frame}, {}, {})
    assert not (tmp_path / "out").exists()


def test_a_prepared_table_is_encoded_from_its_file_batch_by_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Train never holds a prepared table's text: the same numbers, labels and examples."""
    monkeypatch.setattr("mbegu.progress.CHUNK_ROWS", 4)  # several batches in every split
    data = _survey(tmp_path)
    frames, encoder = data.build()
    data.prepare()
    fresh = _survey(tmp_path)
    fresh.load()
    for split in SPLITS:
        inputs, labels = fresh.tensors(split)
        assert torch.equal(inputs, encoder.transform(frames[split])), split
        assert labels.tolist() == encoder.labels(frames[split], split).tolist(), split
    in_memory = _survey(tmp_path / "elsewhere")  # not prepared: split in memory, whole
    in_memory.load()
    assert fresh.example_frame(rows=3).equals(in_memory.example_frame(rows=3))
    assert not fresh.frames  # no split was read as text
    assert [split_rows(fresh.frames, s) for s in SPLITS] == [len(frames[s]) for s in SPLITS]
    assert fresh.frames["test"].equals(frames["test"])  # read whole when asked for


def test_the_mbegu_command_gives_freed_arrow_memory_back(tmp_path: Path) -> None:
    """pyarrow's own allocator keeps what a split frees; a command uses the system's."""
    import os
    import subprocess
    import sys

    code = (
        "from mbegu.cli.main import main\nmain(['summary'])\n"
        "import pyarrow\nprint(pyarrow.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.stdout.split()[-1] == "system", out.stderr[-2000:]
