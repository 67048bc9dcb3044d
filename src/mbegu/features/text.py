"""The text encoder: a raw sentence in, the ids of its word and character n-grams out.

Text is Unicode NFC-normalised first, so a tone-marked letter typed as one code point or as a
letter plus combining mark (NFD) gives the same tokens; letters such as ɓ ɗ ƙ ƴ ẹ ọ ṣ and
Ethiopic script are word characters. The vocabulary is fitted on the train split only and saved
with the model: nothing is downloaded, and serving reads the same tokens as training did.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.table import class_indices, require_columns, row_number

if TYPE_CHECKING:
    import pandas as pd
    import torch

# A word: letters, digits and the combining marks NFC leaves alone (e.g. the tone on ẹ́);
# anything else that is not space (an emoji, "!") is a token of its own.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
TOKEN = re.compile(rf"[\w{_MARKS}]+|[^\w\s{_MARKS}]")


def normalize(text: str, lowercase: bool = True) -> str:
    """The text in Unicode NFC form, lower-cased if asked: one spelling for one word."""
    text = unicodedata.normalize("NFC", text)
    return text.lower() if lowercase else text


def tokens(
    text: str, lowercase: bool = True, word_ngrams: int = 2, char_ngrams: Iterable[int] = (3, 5)
) -> list[str]:
    """The fastText features of a text, which carry short, noisy text.

    Words (w:), word n-grams up to `word_ngrams` (b:) and character n-grams of each word within
    `<` `>` boundaries (c:).
    """
    words = TOKEN.findall(normalize(text, lowercase))
    out = [f"w:{w}" for w in words]
    for n in range(2, word_ngrams + 1):
        out += [f"b:{' '.join(words[i : i + n])}" for i in range(len(words) - n + 1)]
    low, high = char_ngrams
    if high:
        for word in words:
            padded = f"<{word}>"
            for n in range(low, min(high, len(padded)) + 1):
                out += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return out


@dataclass
class TextEncoder:
    """Fitted on the train split (`fit`), saved as JSON (`to_dict`), applied anywhere."""

    text_column: str
    target: str
    classes: list[str]
    vocabulary: list[str]
    lowercase: bool = True
    word_ngrams: int = 2
    char_ngrams: tuple[int, ...] | list[int] = (3, 5)  # a list read from JSON: made a tuple
    missing: str = "error"  # impute: a missing text reads as empty text
    kind: str = "text"

    def __post_init__(self) -> None:
        self.char_ngrams = tuple(self.char_ngrams)
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}

    @property
    def columns(self) -> list[str]:
        """The one input column: the text column."""
        return [self.text_column]

    @property
    def sizes(self) -> dict[str, int]:
        """What the network is built with: the vocabulary's size and the number of classes."""
        return {"vocab_size": len(self.vocabulary), "num_classes": len(self.classes)}

    def tokens(self, text: str) -> list[str]:
        """The text's tokens, with this encoder's settings."""
        return tokens(text, self.lowercase, self.word_ngrams, self.char_ngrams)

    @classmethod
    def fit(
        cls,
        texts: list[str],
        text_column: str,
        target: str,
        classes: list[str],
        lowercase: bool = True,
        word_ngrams: int = 2,
        char_ngrams: tuple[int, int] = (3, 5),
        min_count: int = 2,
        max_vocab: int = 50000,
        missing: str = "error",
    ) -> TextEncoder:
        """Fit the vocabulary on the train split's texts.

        Keep the tokens seen at least `min_count` times in training, the `max_vocab` most frequent
        (ties in text order, so the vocabulary is the same on every machine).
        """
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokens(text, lowercase, word_ngrams, char_ngrams))
        kept = sorted(
            (t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t)
        )
        if not kept:
            raise MbeguError(
                f"no token appears {min_count} times in the train split of {text_column}: "
                f"check data.text_column, or lower data.min_count"
            )
        return cls(
            text_column,
            target,
            classes,
            kept[:max_vocab],
            lowercase,
            word_ngrams,
            char_ngrams,
            missing,
        )

    def labels(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """Each row's class index, refused for a label outside the classes."""
        return class_indices(frame, self.target, self.classes, where)

    def texts(self, frame: pd.DataFrame, where: str) -> list[str]:
        """The text column's texts; a missing one is "" under data.missing=impute, else refused."""
        require_columns(frame, self.columns, where)
        values = frame[self.text_column].tolist()
        if self.missing == "impute":
            return [value if isinstance(value, str) else "" for value in values]
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise MbeguError(
                    f"{where} row {row_number(i)} column {self.text_column} has no text "
                    f"({value!r}): fill or drop that row"
                )
        return values

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids, offsets): the flat token ids of all texts and where each text starts.

        As torch's EmbeddingBag reads them. Unknown tokens are left out.
        """
        import torch

        ids: list[int] = []
        offsets: list[int] = []
        get = self._ids.get
        for text in texts:
            offsets.append(len(ids))
            ids.extend(i for i in map(get, self.tokens(text)) if i is not None)
        return torch.tensor(ids, dtype=torch.int64), torch.tensor(offsets, dtype=torch.int64)

    def transform(
        self, frame: pd.DataFrame, where: str = "the input"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows' texts encoded as (ids, offsets): what the network reads."""
        return self.encode(self.texts(frame, where))

    def to_dict(self) -> dict[str, Any]:
        """The encoder as plain JSON data (saved with the model, never pickled)."""
        data = asdict(self)
        data["char_ngrams"] = list(self.char_ngrams)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextEncoder:
        """The encoder from its to_dict form; malformed fields raise ValueError."""
        encoder = cls(**data)
        if not all(isinstance(t, str) for t in encoder.vocabulary) or len(encoder.char_ngrams) != 2:
            raise ValueError("wrong field types")
        return encoder
