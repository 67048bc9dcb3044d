"""Many texts' tokens at once, as integer arrays: what fitting and encoding count.

features.tokens defines one text's tokens as strings. Building every n-gram of every text as
a Python string is what made fitting and encoding a million texts slow, so here each text is
split into words once, each distinct word's character n-grams are built once (by
features.tokens), and a word n-gram is a key made of two ids: numpy counts them. The tokens
are those `tokens()` gives, in the same order (a test holds them equal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from mbegu.features.tokens import TOKENIZER, char_grams, normalize, token_pattern

BATCH = 20_000  # texts at a time: bounds the occurrence arrays, and a text's index fits uint16


class Ngrams:
    """Texts -> (text, token) occurrences, each token interned once per fit or encode.

    Args:
        lowercase: As features.tokens.tokens.
        word_ngrams: As features.tokens.tokens.
        char_ngrams: As features.tokens.tokens.
        twitter: As features.tokens.tokens.
        version: The tokenizer's version, as features.tokens.tokens.
    """

    def __init__(
        self,
        lowercase: bool,
        word_ngrams: int,
        char_ngrams: Sequence[int],
        twitter: bool,
        version: int = TOKENIZER,
    ) -> None:
        self.lowercase, self.word_ngrams, self.twitter = lowercase, word_ngrams, twitter
        self.version = version
        self.low, self.high = char_ngrams
        self.strings: list[str] = []  # token id -> the token, as tokens() spells it
        self._ids: dict[str, int] = {}
        self._words: dict[str, int] = {}  # word -> word index
        self._word_list: list[str] = []
        self._word_token: list[int] = []  # word index -> id of "w:<word>"
        self._chars: list[int] = []  # every word's character n-gram ids, word after word
        self._char_start: list[int] = [0]  # word index -> where its ids start in _chars
        self._grams: dict[int, int] = {}  # (previous token << 32 | next word) -> token id
        self._arrays = Growing()

    def _intern(self, token: str) -> int:
        found = self._ids.get(token)
        if found is None:
            found = self._ids[token] = len(self.strings)
            self.strings.append(token)
        return found

    def _add_word(self, word: str) -> None:
        self._words[word] = len(self._word_list)
        self._word_list.append(word)
        self._word_token.append(self._intern(f"w:{word}"))
        if self.high:
            self._chars += [self._intern(t) for t in char_grams(word, self.low, self.high)]
        self._char_start.append(len(self._chars))

    def _gram_tokens(self, keys: np.ndarray) -> np.ndarray:
        """The token ids of word n-gram keys, interning the n-grams not seen before."""
        unique, inverse = np.unique(keys, return_inverse=True)
        found = np.empty(len(unique), dtype=np.int64)
        for i, key in enumerate(unique.tolist()):
            token = self._grams.get(key)
            if token is None:
                previous = self.strings[key >> 32]  # "w:a" or "b:a b"
                token = self._intern(f"b:{previous[2:]} {self._word_list[key & 0xFFFFFFFF]}")
                self._grams[key] = token
            found[i] = token
        return found[inverse]

    def occurrences(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every token of each text, in tokens()' order: (text index, token id, is character).

        Args:
            texts: At most BATCH texts.

        Returns:
            Three arrays of one entry per token: its text's index in `texts`, its id (into
            `strings`), and whether it is a character n-gram.
        """
        words, lengths = self._words, []
        flat: list[int] = []
        split = token_pattern(self.version).findall
        for text in texts:
            found = split(normalize(text, self.lowercase, self.twitter, self.version))
            for word in found:
                if word not in words:
                    self._add_word(word)
            flat += [words[w] for w in found]
            lengths.append(len(found))
        word_ids = np.asarray(flat, dtype=np.int64)
        counts = np.asarray(lengths, dtype=np.int64)
        small = np.uint16 if len(texts) <= 0xFFFF else np.int64  # uint16: sorted by radix
        text_of = np.repeat(np.arange(len(texts), dtype=small), counts)
        word_token = self._arrays.get("word_token", self._word_token)
        tokens = [word_token[word_ids]]
        owners = [text_of]
        # Word n-grams, each from the (n-1)-gram at the same position and the next word.
        ends = np.repeat(np.cumsum(counts), counts)
        positions = np.arange(len(word_ids))
        previous = tokens[0]
        for n in range(2, self.word_ngrams + 1):
            at = positions[positions + n - 1 < ends]
            grams = self._gram_tokens((previous[at] << 32) | word_ids[at + n - 1])
            tokens.append(grams)
            owners.append(text_of[at])
            previous = np.full(len(word_ids), -1, dtype=np.int64)
            previous[at] = grams
        words_part = sum(len(t) for t in tokens)
        if self.high:  # each word's character n-grams, gathered from the per-word lists
            start = self._arrays.get("char_start", self._char_start)
            sizes = (start[1:] - start[:-1])[word_ids]
            first = np.repeat(start[word_ids] - (np.cumsum(sizes) - sizes), sizes)
            chars = self._arrays.get("chars", self._chars)
            tokens.append(chars[first + np.arange(len(first))])
            owners.append(np.repeat(text_of, sizes))
        token = np.concatenate(tokens)
        owner = np.concatenate(owners)
        is_char = np.arange(len(token)) >= words_part
        order = np.argsort(owner, kind="stable")  # each text's words, its n-grams, its characters
        return owner[order].astype(np.int64), token[order], is_char[order]


class Growing:
    """Numpy copies of lists that only grow, extended by what was appended since the last call.

    Converting a whole list of every distinct word's n-gram ids in each batch would cost more
    than the batch itself.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, values: list[int]) -> np.ndarray:
        """`values` as an int64 array."""
        known = self._arrays.get(name, np.zeros(0, dtype=np.int64))
        if len(known) < len(values):
            fresh = np.asarray(values[len(known) :], dtype=np.int64)
            known = self._arrays[name] = np.concatenate([known, fresh])
        return known


def distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct keys, sorted: np.unique's hash table is many times slower on these."""
    ordered = np.sort(keys)
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])] if len(keys) else keys


def batches(texts: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    """`size` texts at a time."""
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


def counted(
    texts: Sequence[str],
    lowercase: bool,
    word_ngrams: int,
    char_ngrams: Sequence[int],
    twitter: bool,
    batch: int = BATCH,
    done: Callable[[int], object] | None = None,
    version: int = TOKENIZER,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Every token of the texts, how often it occurs and in how many texts.

    Args:
        texts: The texts, raw.
        lowercase: As features.tokens.tokens.
        word_ngrams: As features.tokens.tokens.
        char_ngrams: As features.tokens.tokens.
        twitter: As features.tokens.tokens.
        batch: Texts counted at a time.
        done: Told how many texts each batch held, once counted (a progress bar).
        version: The tokenizer's version, as features.tokens.tokens.

    Returns:
        (tokens, occurrences, documents): one entry per distinct token.
    """
    ngrams = Ngrams(lowercase, word_ngrams, char_ngrams, twitter, version)
    total = np.zeros(0, dtype=np.int64)
    documents = np.zeros(0, dtype=np.int64)
    for part in batches(texts, batch):
        owner, token, _ = ngrams.occurrences(part)
        size = len(ngrams.strings)
        total = np.pad(total, (0, size - len(total))) + np.bincount(token, minlength=size)
        once = distinct(owner * size + token) % size  # each token once per text
        documents = np.pad(documents, (0, size - len(documents)))
        documents += np.bincount(once, minlength=size)
        if done is not None:
            done(len(part))
    return ngrams.strings, total, documents
