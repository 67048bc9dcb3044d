"""A raw sentence in, its word and character n-grams out: the one place text is normalised.

Training (`prepare`, `train`) and inference (`mbegu predict`, the MLflow model) reach this
module only through the text encoder (features.text), so a tweet is read the same way on both
sides. Nothing here depends on a language: no word lists, no stemming, only Unicode classes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# A word: letters, digits and the combining marks NFC leaves alone (e.g. the tone on ẹ́);
# anything else that is not space (an emoji, "!") is a token of its own. "@user" stays whole,
# so every mention reads as one token.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
TOKEN = re.compile(rf"@user|[\w{_MARKS}]+|[^\w\s{_MARKS}]")

# Twitter's placeholders vary by corpus (@user, @someone, a real handle; full or shortened
# links); one token each keeps a handle or link from becoming dozens of rare n-grams.
_URL = re.compile(r"(?:https?://|www\.)\S+")
_MENTION = re.compile(r"@\w+")
# "sooooo" and "sooo" say the same; capping runs at three keeps them one word, still apart
# from an ordinary double letter ("soo").
_RUN = re.compile(r"(.)\1{3,}")
# Invisible characters that split or join words without meaning anything: the BOM (also
# ZWNBSP), zero-width space and joiners, soft hyphen, bidirectional marks and embeddings.
_INVISIBLE = re.compile("[\ufeff\u200b\u200c\u200d\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069]")

URL_TOKEN = "http"
MENTION_TOKEN = "@user"


def normalize(text: str, lowercase: bool = True, twitter: bool = False) -> str:
    """NFC, then lower case; `twitter`: also links, mentions, long runs and invisible marks.

    NFC: a tone-marked letter typed as one code point or as letter plus mark reads the same.
    """
    text = unicodedata.normalize("NFC", text)
    if lowercase:
        text = text.lower()
    if twitter:
        text = _INVISIBLE.sub("", text)
        text = _URL.sub(f" {URL_TOKEN} ", text)
        text = _MENTION.sub(f" {MENTION_TOKEN} ", text)
        text = _RUN.sub(r"\1\1\1", text)
    return text


def tokens(
    text: str,
    lowercase: bool = True,
    word_ngrams: int = 2,
    char_ngrams: Iterable[int] = (3, 5),
    twitter: bool = False,
) -> list[str]:
    """FastText's features, which carry short, noisy text.

    Words (w:), word n-grams up to `word_ngrams` (b:) and character n-grams of each word
    within < > boundaries (c:).
    """
    words = TOKEN.findall(normalize(text, lowercase, twitter))
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
