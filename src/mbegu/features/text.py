"""The text encoder: a raw sentence in, the weighted ids of its word and character n-grams out.

Text is normalised and split by features.tokens (NFC, so a tone-marked letter typed as one
code point or as letter plus combining mark gives the same tokens; letters such as ɓ ɗ ƙ ƴ ẹ ọ ṣ
and Ethiopic script are word characters). The vocabulary and each token's document frequency
are fitted on the train split only and saved with the model as plain JSON: nothing is
downloaded, and serving reads the same tokens with the same weights as training did.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.cells import class_indices, require_columns, row_number
from mbegu.features.tokens import normalize, tokens

if TYPE_CHECKING:
    import pandas as pd
    import torch

__all__ = ["WEIGHTINGS", "TextEncoder", "normalize", "tokens"]

# How a text's tokens are weighted in its bag. tfidf: (1 + ln tf) x idf, scaled to unit length,
# as scikit-learn's TfidfVectorizer(sublinear_tf=True) does; mean: every occurrence alike
# (fastText's mean, and what encoders saved before weighting existed read as).
WEIGHTINGS = ("tfidf", "mean")


@dataclass
class TextEncoder:
    """Fitted on the train split (`fit`), saved as JSON (`to_dict`), applied anywhere.

    The defaults of the fields after `vocabulary` are what an encoder saved before they
    existed meant, so an older model folder still reads its texts as it was trained to.
    """

    text_column: str
    target: str
    classes: list[str]
    vocabulary: list[str]
    lowercase: bool = True
    word_ngrams: int = 2
    char_ngrams: tuple[int, ...] | list[int] = (3, 5)  # a list read from JSON: made a tuple
    missing: str = "error"  # impute: a missing text reads as empty text
    kind: str = "text"
    twitter: bool = False  # links, mentions and long runs normalised (features.tokens)
    weighting: str = "mean"
    documents: int = 0  # train texts, and in how many of them each vocabulary token is
    doc_counts: list[int] = field(default_factory=list)
    buckets: int = 0  # ids after the vocabulary for tokens outside it, by a stable hash

    def __post_init__(self) -> None:
        self.char_ngrams = tuple(self.char_ngrams)
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}
        # Smoothed idf as TfidfVectorizer's: ln((1 + n) / (1 + df)) + 1; a bucket holds
        # tokens seen about once in training.
        n = self.documents
        self._idf = [math.log((1 + n) / (1 + df)) + 1 for df in self.doc_counts]
        self._bucket_idf = math.log((1 + n) / 2) + 1

    @property
    def columns(self) -> list[str]:
        """The one input column: the text column."""
        return [self.text_column]

    @property
    def sizes(self) -> dict[str, int]:
        """What the network is built with: the vocabulary's size (buckets included), the classes."""
        return {
            "vocab_size": len(self.vocabulary) + self.buckets,
            "num_classes": len(self.classes),
        }

    def tokens(self, text: str) -> list[str]:
        """The text's tokens, with this encoder's settings."""
        return tokens(text, self.lowercase, self.word_ngrams, self.char_ngrams, self.twitter)

    @classmethod
    def fit(
        cls,
        texts: list[str],
        text_column: str,
        target: str,
        classes: list[str],
        *,
        lowercase: bool = True,
        word_ngrams: int = 2,
        char_ngrams: tuple[int, int] = (3, 5),
        min_count: int = 2,
        max_vocab: int = 50000,
        missing: str = "error",
        twitter: bool = False,
        weighting: str = "mean",
        buckets: int = 0,
    ) -> TextEncoder:
        """Fit the vocabulary on the train split's texts.

        Keep the tokens seen at least `min_count` times in training, the `max_vocab` most
        frequent (ties in text order, so the vocabulary is the same on every machine), with the
        number of train texts each appears in (its idf).
        """
        counts: Counter[str] = Counter()
        docs: Counter[str] = Counter()
        for text in texts:
            found = tokens(text, lowercase, word_ngrams, char_ngrams, twitter)
            counts.update(found)
            docs.update(set(found))
        kept = sorted(
            (t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t)
        )[:max_vocab]
        if not kept:
            raise MbeguError(
                f"no token appears {min_count} times in the train split of {text_column}: "
                f"check data.text_column, or lower data.min_count"
            )
        return cls(
            text_column,
            target,
            classes,
            kept,
            lowercase=lowercase,
            word_ngrams=word_ngrams,
            char_ngrams=char_ngrams,
            missing=missing,
            twitter=twitter,
            weighting=weighting,
            documents=len(texts),
            doc_counts=[docs[t] for t in kept],
            buckets=buckets,
        )

    def labels(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """Each row's class index, refused for a label outside the classes."""
        return class_indices(frame, self.target, self.classes, where)

    def texts(self, frame: pd.DataFrame, where: str, start: int = 0) -> list[str]:
        """The text column's texts; a missing one is "" under data.missing=impute, else refused.

        `start`: the frame's first row in its file (a chunk of it), as an error names rows.
        """
        require_columns(frame, self.columns, where)
        values = frame[self.text_column].tolist()
        if self.missing == "impute":
            return [value if isinstance(value, str) else "" for value in values]
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise MbeguError(
                    f"{where} row {row_number(start + i)} column {self.text_column} has no text "
                    f"({value!r}): fill or drop that row"
                )
        return values

    def _id(self, token: str) -> int | None:
        """The token's id: the vocabulary's, else its hashed bucket's, else None."""
        found = self._ids.get(token)
        if found is not None or not self.buckets:
            return found
        # crc32, not hash(): Python salts str hashes per process.
        return len(self.vocabulary) + zlib.crc32(token.encode()) % self.buckets

    def _weights(self, ids: list[int]) -> tuple[list[int], list[float]]:
        """One text's bag: its ids (each once, tfidf) and their weights.

        mean: 1/n per occurrence; tfidf: unit length.
        """
        if self.weighting == "mean":
            return ids, [1.0 / len(ids)] * len(ids)
        tf = Counter(ids)
        vocab = len(self.vocabulary)
        weights = [
            (1 + math.log(n)) * (self._idf[i] if i < vocab else self._bucket_idf)
            for i, n in tf.items()
        ]
        norm = math.sqrt(sum(w * w for w in weights))
        return list(tf), [w / norm for w in weights]

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The (ids, offsets, weights) of `bags` as tensors, as torch's EmbeddingBag reads them."""
        import torch

        ids, offsets, weights = self.bags(texts)
        return (
            torch.tensor(ids, dtype=torch.int64),
            torch.tensor(offsets, dtype=torch.int64),
            torch.tensor(weights, dtype=torch.float32),
        )

    def bags(self, texts: list[str]) -> tuple[list[int], list[int], list[float]]:
        """(ids, offsets, weights): the flat token ids of all texts, where each text starts.

        And each id's weight, as EmbeddingBag(mode="sum") reads them. Tokens outside the
        vocabulary and its buckets are left out; a text with none is an empty bag (its
        prediction is the classifier's bias). Plain lists: torch and ONNX alike read them.

        Args:
            texts: The texts, raw.

        Returns:
            The ids, the offsets and the weights.
        """
        ids: list[int] = []
        offsets: list[int] = []
        weights: list[float] = []
        for text in texts:
            offsets.append(len(ids))
            found = self.tokens(text)
            # Words and character n-grams each make a unit-length part, as two TfidfVectorizers
            # side by side would: the many character n-grams would otherwise drown the words.
            cut = next((i for i, t in enumerate(found) if t.startswith("c:")), len(found))
            for part in (found[:cut], found[cut:]) if self.weighting == "tfidf" else (found,):
                known = [i for i in map(self._id, part) if i is not None]
                if known:
                    kept, scale = self._weights(known)
                    ids += kept
                    weights += scale
        return ids, offsets, weights

    def transform(
        self, frame: pd.DataFrame, where: str = "the input", start: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rows' texts encoded as (ids, offsets, weights): what the network reads."""
        return self.encode(self.texts(frame, where, start))

    def to_dict(self) -> dict[str, Any]:
        """The encoder as plain JSON data (saved with the model, never pickled)."""
        data = asdict(self)
        data["char_ngrams"] = list(self.char_ngrams)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextEncoder:
        """The encoder from its to_dict form; malformed fields raise ValueError."""
        encoder = cls(**data)
        if (
            not all(isinstance(t, str) for t in encoder.vocabulary)
            or len(encoder.char_ngrams) != 2
            or encoder.weighting not in WEIGHTINGS
            or (encoder.weighting == "tfidf" and len(encoder.doc_counts) != len(encoder.vocabulary))
        ):
            raise ValueError("wrong field types")
        return encoder
