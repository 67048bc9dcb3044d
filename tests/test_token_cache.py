"""Encoded text splits kept on disk (data.token_cache): read back instead of encoded again.

The train stage, the evaluate stage and each sweep trial are processes of their own; the cache
is what lets them share one tokenisation. An entry is keyed by the data and the fitted
encoder, so any change to either is a new entry, and a damaged one is encoded again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mbegu.data import cache
from mbegu.data.sources import TextData
from mbegu.data.token_cache import FIT, KEEP, cache_folder, fitted, remembered

WORDS = ["ọjà", "dáadáa", "ni", "kò", "dára", "rárá", "@user", "😂", "mo", "fẹ́ràn"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder taken for the project, with a small text file of two labels."""
    monkeypatch.setenv("MBEGU_ROOT", str(tmp_path))
    monkeypatch.delenv("DVC_ROOT", raising=False)
    lines = [
        f'"{" ".join(WORDS[(i + j) % len(WORDS)] for j in range(i % 7 + 2))}",{"ab"[i % 2]}'
        for i in range(60)
    ]
    (tmp_path / "tweets.csv").write_text("text,label\n" + "\n".join(lines) + "\n")
    cache._LOADED.clear()  # this process's in-memory copy: not what is tested
    return tmp_path


def text_data(project: Path, **options: object) -> TextData:
    return TextData(
        "label", path=str(project / "tweets.csv"), processed_dir=str(project / "p"), **options
    )


def equal(a: tuple, b: tuple) -> bool:
    (ids, offsets, weights), labels = a
    (ids2, offsets2, weights2), labels2 = b
    return all(
        torch.equal(x, y)
        for x, y in [(ids, ids2), (offsets, offsets2), (weights, weights2), (labels, labels2)]
    )


def never() -> tuple:
    raise AssertionError("encoded again: the cache was not read")


def test_a_split_is_read_back_not_encoded_again(project: Path) -> None:
    data = text_data(project)
    first = data.tensors("train")
    folder = cache_folder()
    assert folder is not None and folder.is_relative_to(project / ".mbegu")
    assert (project / ".mbegu" / ".gitignore").read_text() == "*\n"  # never in git
    assert sorted(p.name for p in folder.glob("*/*")) == ["encoder.json", "train.npz"]
    again = remembered(data.identity, data.load(), "train", never)  # type: ignore[arg-type]
    assert equal(again, first)
    assert again[0][0].dtype == torch.int64  # what EmbeddingBag reads beside int64 offsets


def test_other_options_or_data_are_another_entry(project: Path) -> None:
    text_data(project).tensors("train")
    cache._LOADED.clear()
    text_data(project, min_count=1).tensors("train")
    folder = cache_folder()
    assert folder is not None
    assert len([p for p in folder.iterdir() if not p.name.startswith(FIT)]) == 2
    assert len([p for p in folder.iterdir() if p.name.startswith(FIT)]) == 2
    data = text_data(project)
    data.load()
    with (project / "tweets.csv").open("a") as out:
        out.write('"mo fẹ́ràn ọjà",a\n')
    changed = text_data(project)
    changed.load()
    assert changed.identity != data.identity  # a new md5: no entry of the old file is read


def test_a_damaged_entry_is_encoded_again(project: Path) -> None:
    data = text_data(project)
    first = data.tensors("val")
    folder = cache_folder()
    assert folder is not None
    (stored,) = folder.glob("*/val.npz")
    stored.write_bytes(b"not an npz")
    calls = []

    def encode() -> tuple:
        calls.append(1)
        return first

    assert equal(remembered(data.identity, data.load(), "val", encode), first)  # type: ignore[arg-type]
    assert calls == [1]
    assert equal(remembered(data.identity, data.load(), "val", never), first)  # type: ignore[arg-type]


def test_only_the_latest_entries_stay(project: Path) -> None:
    for min_count in range(1, KEEP + 3):
        cache._LOADED.clear()
        text_data(project, min_count=min_count, max_vocab=50).tensors("test")
    folder = cache_folder()
    assert folder is not None
    assert len([p for p in folder.iterdir() if not p.name.startswith(FIT)]) == KEEP
    latest = text_data(project, min_count=KEEP + 2, max_vocab=50)
    assert equal(
        remembered(latest.identity or latest.manifest(), latest.load(), "test", never),  # type: ignore[arg-type]
        latest.tensors("test"),
    )


def test_a_fitted_encoder_is_read_back_for_the_same_data_and_options(project: Path) -> None:
    data = text_data(project, min_count=1)
    encoder = data.load()
    folder = cache_folder()
    assert folder is not None
    (stored,) = folder.glob(f"{FIT}*/encoder.json")
    cache._LOADED.clear()
    again = text_data(project, min_count=1)
    assert fitted(again.manifest(), never).to_dict() == encoder.to_dict()  # type: ignore[arg-type]
    assert again.load().to_dict() == encoder.to_dict()
    stored.write_text('{"vocabulary": ')  # damaged: fitted again, the same
    calls = []

    def fit() -> object:
        calls.append(1)
        return encoder

    assert fitted(again.manifest(), fit) is encoder  # type: ignore[arg-type]
    assert calls == [1]
    assert fitted(text_data(project, min_count=2).manifest(), fit) is encoder  # type: ignore[arg-type]
    assert calls == [1, 1]  # other options: another fit


def test_a_split_an_older_tokenizer_prepared_is_fitted_again(project: Path) -> None:
    """After an upgrade that splits texts differently, the prepared split is not reused."""
    import json

    from mbegu.data.split import ENCODER, MANIFEST
    from mbegu.features.tokens import TOKENIZER

    text_data(project).prepare()
    folder = project / "p"
    for name in (MANIFEST, ENCODER):  # as an mbegu before tokenizer versions wrote them
        written = json.loads((folder / name).read_text())
        written.get("options", written).pop("tokenizer")
        (folder / name).write_text(json.dumps(written))
    cache._LOADED.clear()
    text_data(project).prepare()
    assert json.loads((folder / MANIFEST).read_text())["options"]["tokenizer"] == TOKENIZER
    assert json.loads((folder / ENCODER).read_text())["tokenizer"] == TOKENIZER
