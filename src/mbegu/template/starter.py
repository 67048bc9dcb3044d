"""A small made-up data set for a project that starts from a table or from texts.

A new project must run its pipeline before the user brings their own data, so `copier copy`
writes one of these into data/ (the digits example's data stays with the digits answer). Only
the standard library: copier runs this with its own Python, where mbegu's dependencies are not
installed. Seeded, so every copy gets the same bytes and the same first results.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

REGIONS = ["Kano", "Lagos", "Nairobi", "Addis Ababa"]
WORDS = {
    "positive": ["na gode", "madalla", "ẹ káàbọ̀", "ṣé dáadáa", "asante", "nzuri sana"],
    "negative": ["ɓarna", "bakin ciki", "ìbànújẹ́", "ƙiyayya", "mbaya", "huzuni"],
    "neutral": ["yau", "gobe", "ọjà", "labari", "mvua", "shule"],
}

TABLE_CONFIG = """\
# A small made-up survey (data/example.csv, written by `copier copy`) so that the pipeline
# runs before your data arrives. Yours: put the file in data/, then
# `mbegu data add data/<file> --target <column>` writes a config like this one and uses it.
defaults:
  - table
  - _self_
name: example
path: ${paths.data_dir}/example.csv
target: answer
drop: [id]
"""

TEXT_CONFIG = """\
# Made-up short texts with a sentiment label (data/example.tsv, written by `copier copy`) so
# that the pipeline runs before your data arrives. Yours: put the file in data/, then
# `mbegu data add data/<file> --text <column> --target <column>` writes a config like this one.
defaults:
  - text
  - _self_
name: example
path: ${paths.data_dir}/example.tsv
text_column: text
target: label
"""


def write_table(path: Path, rows: int = 600, seed: int = 0) -> Path:
    """id, region, age, income and a yes/no answer that depends on region and age."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "region", "age", "income", "answer"])
        for row in range(rows):
            region = rng.choice(REGIONS)
            age = round(rng.gauss(35, 10), 1)
            income = round(rng.lognormvariate(3, 1), 2)
            score = (age - 35) / 10 + (1.5 if region == "Kano" else -0.5) + rng.gauss(0, 0.5)
            writer.writerow([row, region, age, income, "yes" if score > 0 else "no"])
    return path


def write_texts(path: Path, rows: int = 450, seed: int = 0) -> Path:
    """Short texts in Hausa, Yoruba and Swahili words, each labelled by the words it leans on."""
    rng = random.Random(seed)
    every = [word for words in WORDS.values() for word in words]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE)
        writer.writerow(["text", "label"])
        for _ in range(rows):
            label = rng.choice(list(WORDS))
            words = [*rng.sample(WORDS[label], 2), rng.choice(every)]
            rng.shuffle(words)
            writer.writerow([" ".join(words), label])
    return path


CONFIGS = {"table": TABLE_CONFIG, "text": TEXT_CONFIG}


def write_starter_data(root: Path, kind: str) -> Path:
    """The data file for `kind` (table or text) in the project's data/ folder."""
    if kind == "table":
        return write_table(root / "data" / "example.csv")
    if kind == "text":
        return write_texts(root / "data" / "example.tsv")
    raise ValueError(f"no starter data for {kind!r}: table or text")
