"""A raw sentence in, its word and character n-grams out: the one place text is normalised.

Training (`prepare`, `train`) and inference (`mbegu predict`, the MLflow model) reach this
module only through the text encoder (features.text), so a tweet is read the same way on both
sides. Nothing here depends on a language: no word lists, no stemming, only Unicode classes.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable

# How text is split, as an encoder records it (TextEncoder.tokenizer). 1: a word holds letters,
# digits and the combining marks of the Latin, symbol and half-mark blocks, and every other mark
# splits it. 2: a word or symbol holds every combining mark after it, in any script, and under
# `twitter` the variation selectors (an emoji's or a text glyph) are dropped.
TOKENIZER = 2
TOKENIZERS = (1, 2)

# Version 1's word: letters, digits and the marks NFC leaves alone in Latin text (the tone on
# ẹ́); anything else that is not space (an emoji, "!") is a token of its own. "@user" stays
# whole, so every mention reads as one token.
_LATIN_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
TOKEN = re.compile(rf"@user|[\w{_LATIN_MARKS}]+|[^\w\s{_LATIN_MARKS}]")

# Twitter's placeholders vary by corpus (@user, @someone, a real handle; full or shortened
# links); one token each keeps a handle or link from becoming dozens of rare n-grams.
_URL = re.compile(r"(?:https?://|www\.)\S+")
_MENTION = re.compile(r"@\w+")  # version 1's; version 2's keeps marks (mention_pattern)
# "sooooo" and "sooo" say the same; capping runs at three keeps them one word, still apart
# from an ordinary double letter ("soo").
_RUN = re.compile(r"(.)\1{3,}")
# Invisible characters that split or join words without meaning anything: the BOM (also
# ZWNBSP), zero-width space and joiners, soft hyphen, bidirectional marks and embeddings; from
# version 2 also the variation selectors that pick an emoji's or a text glyph (❤️ reads as ❤).
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SELECTORS = re.compile("[\ufe0e\ufe0f]")


@functools.cache
def marks() -> str:
    """Every combining mark (Unicode's category M) as the body of a regex character class.

    Python's re has no class for category M, so it is read from this Python's unicodedata,
    once per process (planes 0, 1 and 14 hold every mark).
    """
    spans: list[list[int]] = []
    for code in itertools.chain(range(0x20000), range(0xE0000, 0xE1000)):
        if unicodedata.category(chr(code)).startswith("M"):
            if spans and spans[-1][1] == code - 1:
                spans[-1][1] = code
            else:
                spans.append([code, code])
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in spans)


@functools.cache
def token_pattern(version: int) -> re.Pattern[str]:
    """How a normalised text splits into words and symbols, by tokenizer version.

    Version 2's word is a letter or digit, then letters, digits and combining marks (Arabic
    harakat, an Indic vowel sign, N'Ko and Adlam tone marks, as well as the tone on ẹ́); any
    other character that is not space is a token with the marks after it (#⃣, a # in its
    keycap). A mark after a space or at the start is a token of its own.
    """
    if version == 1:
        return TOKEN
    return re.compile(rf"@user|\w[\w{marks()}]*|[^\w\s][{marks()}]*")


@functools.cache
def mention_pattern(version: int) -> re.Pattern[str]:
    """A handle, by tokenizer version: from version 2 its name keeps its marks (@ọ́la)."""
    if version == 1:
        return _MENTION
    return re.compile(rf"@\w[\w{marks()}]*")


URL_TOKEN = "http"
MENTION_TOKEN = "@user"


def normalize(
    text: str, lowercase: bool = True, twitter: bool = False, version: int = TOKENIZER
) -> str:
    """NFC, then lower case; `twitter`: also links, mentions, long runs and invisible marks.

    NFC: a tone-marked letter typed as one code point or as letter plus mark reads the same.
    `version`: the tokenizer's (TOKENIZER), which says which marks are invisible.
    """
    text = unicodedata.normalize("NFC", text)
    if lowercase:
        text = text.lower()
    if twitter:
        text = _INVISIBLE.sub("", text)
        if version >= 2:
            text = _SELECTORS.sub("", text)
        text = _URL.sub(f" {URL_TOKEN} ", text)
        text = mention_pattern(version).sub(f" {MENTION_TOKEN} ", text)
        text = _RUN.sub(r"\1\1\1", text)
    return text


def tokens(
    text: str,
    lowercase: bool = True,
    word_ngrams: int = 2,
    char_ngrams: Iterable[int] = (3, 5),
    twitter: bool = False,
    version: int = TOKENIZER,
) -> list[str]:
    """FastText's features, which carry short, noisy text.

    Words (w:), word n-grams up to `word_ngrams` (b:) and character n-grams of each word
    within < > boundaries (c:), split as tokenizer `version` splits them (token_pattern).
    """
    words = token_pattern(version).findall(normalize(text, lowercase, twitter, version))
    out = [f"w:{w}" for w in words]
    for n in range(2, word_ngrams + 1):
        out += [f"b:{' '.join(words[i : i + n])}" for i in range(len(words) - n + 1)]
    low, high = char_ngrams
    if high:
        for word in words:
            out += char_grams(word, low, high)
    return out


def char_grams(word: str, low: int, high: int) -> list[str]:
    """The word's character n-grams within < > boundaries, from `low` to `high` characters."""
    padded = f"<{word}>"
    out: list[str] = []
    for n in range(max(low, 1), min(high, len(padded)) + 1):
        out += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return out
