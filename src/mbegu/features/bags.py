"""Texts as the weighted bags of token ids the network reads: encoding, many texts at once.

The tokens come from features.ngrams (those of features.tokens.tokens, as integer arrays);
here they become vocabulary ids and weights, batch by batch.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from mbegu.features.ngrams import BATCH, Growing, Ngrams, batches


def in_vocabulary(
    ngrams: Ngrams,
    texts: Sequence[str],
    vocabulary: dict[str, int],
    buckets: int,
    batch: int = BATCH,
    done: Callable[[int], object] | None = None,
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Each batch's tokens as vocabulary ids: (batch size, text index, id, is character).

    A token outside the vocabulary takes its hashed bucket's id when there are `buckets`, else
    it is left out.
    """
    size = len(vocabulary)
    mapped: list[int] = []
    growing = Growing()
    for part in batches(texts, batch):
        owner, token, is_char = ngrams.occurrences(part)
        for text in ngrams.strings[len(mapped) :]:
            found = vocabulary.get(text)
            if found is None:  # crc32, not hash(): Python salts str hashes per process
                found = size + zlib.crc32(text.encode()) % buckets if buckets else -1
            mapped.append(found)
        ids = growing.get("mapped", mapped)[token]
        known = ids >= 0
        yield len(part), owner[known], ids[known], is_char[known]
        if done is not None:
            done(len(part))


def weighted_bags(
    ngrams: Ngrams,
    texts: Sequence[str],
    vocabulary: dict[str, int],
    buckets: int,
    idf: np.ndarray | None,
    batch: int = BATCH,
    done: Callable[[int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, offsets, weights) of the texts, as torch's EmbeddingBag(mode="sum") reads them.

    idf None: every occurrence weighs 1/n (a text's n tokens, in tokens()' order). Else each
    distinct token once, (1 + ln tf) x idf, with its words and character n-grams each scaled to
    unit length, as two TfidfVectorizer(sublinear_tf=True) side by side would (the many
    character n-grams would otherwise drown the words); ordered words first, then by id.

    Args:
        ngrams: The tokenizer (the encoder's settings).
        texts: The texts, raw.
        vocabulary: Token -> id.
        buckets: As TextEncoder.buckets.
        idf: Each id's idf (buckets included), or None for mean weights.
        batch: Texts encoded at a time.
        done: Told how many texts each batch held, once encoded (a progress bar).

    Returns:
        The flat ids (int64), where each text starts (int64), each id's weight (float32).
    """
    ids, weights, sizes = [], [], []
    chosen = in_vocabulary(ngrams, texts, vocabulary, buckets, batch, done)
    for count, owner, found, is_char in chosen:
        if idf is None:
            per_text = np.bincount(owner, minlength=count)
            weight = 1.0 / per_text[owner]
        else:
            span = len(vocabulary) + buckets
            keys, tf = np.unique((owner * 2 + is_char) * span + found, return_counts=True)
            group, found = keys // span, keys % span
            weight = (1 + np.log(tf)) * idf[found]
            weight /= np.sqrt(np.bincount(group, weight * weight, minlength=2 * count))[group]
            per_text = np.bincount(group // 2, minlength=count)
        ids.append(found)
        weights.append(weight.astype(np.float32))
        sizes.append(per_text)
    lengths = np.concatenate([np.zeros(0, dtype=np.int64), *sizes])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = np.concatenate([np.zeros(0, dtype=np.int64), *ids])
    return flat, offsets[: len(texts)], np.concatenate([np.zeros(0, np.float32), *weights])
