"""Texts tokenised many at a time (features.ngrams) read as tokens() reads each one.

features.tokens.tokens is the definition of a text's tokens; fitting and encoding count them
as arrays, in batches. Both must give the vocabulary, document counts and weighted bags that
tokens() gives, text by text, across batch boundaries, for every tokenizer option.
"""

from __future__ import annotations

import dataclasses
import math
import random
import zlib
from collections import Counter

import numpy as np
import pytest

from mbegu.features.bags import weighted_bags
from mbegu.features.ngrams import counted
from mbegu.features.text import TextEncoder
from mbegu.features.tokens import TOKENIZER, tokens

PIECES = [
    *"abcọẹṣɓɗ", "A", "Ọ", " ", "  ", "\r\n", "😂", "@user", "@ada_1", "http://t.co/x",
    "!", "ሰላም", "مرحبا", "sooooo", "\u0301", "\ufeff", "\u200b", "e\u0301",
    "شُكْرًا", "सूचना", "❤\ufe0f", "1\ufe0f\u20e3", "\u064e", "ߒߞߏ߫",
]  # fmt: skip
OPTIONS = [
    {"word_ngrams": 2, "char_ngrams": (2, 5)},
    {"word_ngrams": 1, "char_ngrams": (0, 0)},
    {"word_ngrams": 3, "char_ngrams": (1, 3), "lowercase": False},
    {"word_ngrams": 2, "char_ngrams": (4, 4), "twitter": False},
    {"word_ngrams": 2, "char_ngrams": (2, 5), "tokenizer": 1},  # an older encoder's split
]


def odd_texts(n: int = 400) -> list[str]:
    rng = random.Random(7)
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30))) for _ in range(n)]
    return [*texts, "", " ", "😂😂", "@user", "a", "ọjà dáadáa ni 😀 " * 40]


def reference_bags(encoder: TextEncoder, texts: list[str]) -> list[list[tuple[int, float]]]:
    """Each text's (id, weight) pairs, token by token from tokens(): the definition."""
    ids = {t: i for i, t in enumerate(encoder.vocabulary)}
    vocab = len(encoder.vocabulary)
    bags = []
    for text in texts:
        found = encoder.tokens(text)
        cut = next((i for i, t in enumerate(found) if t.startswith("c:")), len(found))
        parts = (found[:cut], found[cut:]) if encoder.weighting == "tfidf" else (found,)
        bag: list[tuple[int, float]] = []
        for part in parts:
            known = [ids.get(t) for t in part]
            if encoder.buckets:
                known = [
                    vocab + zlib.crc32(t.encode()) % encoder.buckets if i is None
                    else i for t, i in zip(part, known, strict=True)
                ]  # fmt: skip
            known_ids = [i for i in known if i is not None]
            if not known_ids:
                continue
            if encoder.weighting == "mean":
                bag += [(i, 1 / len(known_ids)) for i in known_ids]
                continue
            n, df = encoder.documents, encoder.doc_counts
            idf = [math.log((1 + n) / (1 + (df[i] if i < vocab else 1))) + 1 for i in range(vocab)]
            weights = {
                i: (1 + math.log(c)) * (idf[i] if i < vocab else math.log((1 + n) / 2) + 1)
                for i, c in Counter(known_ids).items()
            }
            norm = math.sqrt(sum(w * w for w in weights.values()))
            bag += [(i, w / norm) for i, w in weights.items()]
        bags.append(bag)
    return bags


@pytest.mark.parametrize("options", OPTIONS)
def test_counts_are_those_of_tokens_across_batches(options: dict) -> None:
    texts = odd_texts()
    twitter = options.get("twitter", True)
    lowercase = options.get("lowercase", True)
    word, char = options["word_ngrams"], options["char_ngrams"]
    version = options.get("tokenizer", TOKENIZER)
    occurrences: Counter[str] = Counter()
    documents: Counter[str] = Counter()
    for text in texts:
        found = tokens(text, lowercase, word, char, twitter, version)
        occurrences.update(found)
        documents.update(set(found))
    strings, total, docs = counted(texts, lowercase, word, char, twitter, batch=7, version=version)
    assert len(strings) == len(set(strings)) == len(occurrences)
    assert {s: int(total[i]) for i, s in enumerate(strings)} == occurrences
    assert {s: int(docs[i]) for i, s in enumerate(strings)} == documents


@pytest.mark.parametrize("weighting", ["tfidf", "mean"])
@pytest.mark.parametrize("buckets", [0, 50])
@pytest.mark.parametrize("options", OPTIONS)
def test_bags_are_those_of_tokens_across_batches(
    options: dict, weighting: str, buckets: int
) -> None:
    texts = odd_texts()
    encoder = TextEncoder.fit(
        texts[:300], "text", "label", ["a", "b"], min_count=2, max_vocab=400,
        weighting=weighting, buckets=buckets, twitter=options.get("twitter", True),
        lowercase=options.get("lowercase", True), word_ngrams=options["word_ngrams"],
        char_ngrams=options["char_ngrams"],
    )  # fmt: skip
    encoder = dataclasses.replace(encoder, tokenizer=options.get("tokenizer", TOKENIZER))
    idf = None
    if weighting == "tfidf":
        idf = np.asarray(encoder._idf + [encoder._bucket_idf] * buckets)
    ngrams = encoder.ngrams()
    ids, offsets, weights = weighted_bags(ngrams, texts, encoder._ids, buckets, idf, batch=7)
    assert ids.dtype == offsets.dtype == np.int64 and weights.dtype == np.float32
    assert len(offsets) == len(texts)
    ends = [*offsets[1:].tolist(), len(ids)]
    expected = reference_bags(encoder, texts)
    for text, start, end, bag in zip(texts, offsets.tolist(), ends, expected, strict=True):
        got = list(zip(ids[start:end].tolist(), weights[start:end].tolist(), strict=True))
        if weighting == "tfidf":  # each distinct id once; their order is the sum's only
            got, bag = sorted(got), sorted(bag)
        assert [i for i, _ in got] == [i for i, _ in bag], text
        assert np.allclose([w for _, w in got], [w for _, w in bag], rtol=1e-6), text
    # The encoder's own bags: one batch, the same numbers.
    whole = encoder.bags(texts)
    assert all(np.array_equal(a, b) for a, b in zip(whole, (ids, offsets, weights), strict=True))
