"""Progress over a big table: a bar on a terminal while it is read and encoded, the same
numbers as without one, and nothing printed where no one watches (CI, logs, pipes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .helpers.cli import on_a_terminal

# Reads and encodes the table as training does; stdout says whether the chunked encoding under
# the bar equals one call of the encoder.
SCRIPT = """
from pathlib import Path
import torch
from mbegu.config.compose import compose
from mbegu.data.sources import build_data
cfg = compose(["data=table", "data.path=data/big.csv", "data.target=answer", "data.drop=[id]"])
data = build_data(cfg, Path.cwd())
encoder = data.load()
x = data.tensors("train")[0]
same = torch.equal(x, encoder.transform(data.frames["train"], "the train split"))
print("rows", len(data.frames["train"]), "same" if same else "differ")
"""


@pytest.mark.slow
def test_a_big_table_is_read_and_encoded_under_a_bar_on_a_terminal_only(project: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 450_000  # over 8 MB and 200,000 train rows: big enough for both bars
    regions = rng.choice(["Kano", "Mombasa", "Jos", "NA"], rows)
    ages, incomes = rng.integers(18, 90, rows), np.round(rng.gamma(2.0, 5.0, rows), 1)
    answers = rng.choice(["yes", "no"], rows)
    lines = [
        f"{i},{r},{a},{m},{y}\n"
        for i, r, a, m, y in zip(range(rows), regions, ages, incomes, answers, strict=True)
    ]
    big = project / "data" / "big.csv"
    big.write_text("id,region,age,income,answer\n" + "".join(lines))
    assert big.stat().st_size > 8 << 20
    code, out, seen = on_a_terminal([sys.executable, "-c", SCRIPT], project)
    assert code == 0, seen[-3000:]
    assert out.split()[-1] == "same", out  # the chunks encode as one call does
    assert b"reading big.csv" in seen and b"encoding the train split" in seen, seen[-3000:]
    piped = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=project, capture_output=True, text=True
    )
    assert piped.returncode == 0 and piped.stdout == out
    assert piped.stderr == ""  # a pipe, as in CI or a log: quiet


TEXT_SCRIPT = """
from pathlib import Path
from mbegu.config.compose import compose
from mbegu.data.sources import build_data
cfg = compose(["data=text", "data.path=data/texts.csv", "data.target=label"])
data = build_data(cfg, Path.cwd())
encoder = data.load()
ids, offsets, weights = data.tensors("train")[0]
print("texts", len(offsets), "ids", len(ids))
"""


@pytest.mark.slow
def test_many_texts_are_fitted_and_encoded_under_a_bar_on_a_terminal_only(project: Path) -> None:
    rng = np.random.default_rng(0)
    rows = 300_000  # over 200,000 train texts: big enough for both bars
    words = np.array(["ọjà", "dáadáa", "ni", "kò", "dára", "@user", "😂", "mo", "fẹ́ràn"])
    drawn = rng.choice(words, (rows, 3))
    labels = rng.choice(["a", "b"], rows)
    lines = [f"{' '.join(w)},{y}\n" for w, y in zip(drawn, labels, strict=True)]
    (project / "data" / "texts.csv").write_text("text,label\n" + "".join(lines))
    code, out, seen = on_a_terminal([sys.executable, "-c", TEXT_SCRIPT], project)
    assert code == 0, seen[-3000:]
    for bar in (b"fitting the tokenizer", b"encoding the train split"):  # and each moved on
        assert re.search(rb"%s: +[1-9]\d*%%" % bar, seen), seen[-3000:]
    piped = subprocess.run(
        [sys.executable, "-c", TEXT_SCRIPT], cwd=project, capture_output=True, text=True
    )
    assert piped.returncode == 0 and piped.stdout == out, piped.stderr[-3000:]
    assert out.split()[:2] == ["texts", "210000"]
    assert piped.stderr == ""  # a pipe, as in CI or a log: quiet
