"""Small data of the kinds mbegu's users bring, written by the tests themselves: a survey table
(floats, categories, a yes/no answer, gaps) and tweets in Hausa and Yoruba with given splits."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

REGIONS = ["Kano", "Lagos", "Nairobi", "Addis Ababa"]
WORDS = {
    "positive": ["na gode", "madalla", "ẹ káàbọ̀", "ṣé dáadáa", "ɗanɗano mai kyau", "ƙwarai"],
    "negative": ["ɓarna", "bakin ciki", "ìbànújẹ́", "ƙiyayya", "ba kyau", "ọ̀rọ̀ burúkú"],
    "neutral": ["yau", "gobe", "ọjà", "labari", "ruwa", "ƴan makaranta"],
}


def survey_csv(path: Path, rows: int = 400, seed: int = 0, gaps: bool = False) -> Path:
    """id, region (text), age and income (floats), answer (yes/no) that depends on both."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, rows)
    age = rng.normal(35, 10, rows).round(2)
    income = rng.lognormal(3, 1, rows)
    score = (age - 35) / 10 + np.where(region == "Kano", 1.5, -0.5) + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame(
        {
            "id": range(rows),
            "region": region,
            "age": age,
            "income": income,
            "answer": np.where(score > 0, "yes", "no"),
        }
    )
    frame.loc[0, "age"] = 2.72  # must stay 2.72, not 2
    if gaps:
        frame.loc[[3, 9], "age"] = np.nan
        frame.loc[5, "region"] = None
        frame.loc[7, "answer"] = None
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def tweets(folder: Path, seed: int = 0, nfd: bool = False) -> dict[str, Path]:
    """train/dev/test TSVs of short texts with a sentiment label; `nfd` writes the texts
    decomposed (a letter, then its tone mark) as some keyboards do."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    every = [word for words in WORDS.values() for word in words]
    paths = {}
    for split, count in (("train", 300), ("dev", 90), ("test", 90)):
        rows = []
        for _ in range(count):
            label = str(rng.choice(list(WORDS)))
            words = [*rng.choice(WORDS[label], 2), *rng.choice(every, 2)]
            text = " ".join(rng.permutation(words))
            rows.append((unicodedata.normalize("NFD", text) if nfd else text, label))
        paths[split] = folder / f"{split}.tsv"
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=["tweet", "sentiment"]).to_csv(
            paths[split], sep="\t", index=False
        )
    return paths


def labelled_texts(path: Path, rows: int = 150, seed: int = 0) -> Path:
    """One TSV of short texts (`text`) and their sentiment (`label`), for `mbegu data add
    --text text --target label` to split by seed."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    every = [word for words in WORDS.values() for word in words]
    labels = [str(rng.choice(list(WORDS))) for _ in range(rows)]
    texts = [
        " ".join(rng.permutation([*rng.choice(WORDS[label], 2), *rng.choice(every, 1)]))
        for label in labels
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, sep="\t", index=False)
    return path
