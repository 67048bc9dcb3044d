"""The text encoder: a raw sentence in, the weighted ids of its word and character n-grams out.

Text is normalised and split by features.tokens (NFC, so a tone-marked letter typed as one
code point or as letter plus combining mark gives the same tokens; letters such as ɓ ɗ ƙ ƴ ẹ ọ ṣ
and Ethiopic script are word characters, and a word keeps its combining marks in any script).
The encoder records the tokenizer's version, so a model keeps reading texts as it was trained
to after the splitting changes. The vocabulary and each token's document frequency
are fitted on the train split only and saved with the model as plain JSON: nothing is
downloaded, and serving reads the same tokens with the same weights as training did.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.bags import weighted_bags
from mbegu.features.cells import class_indices, require_columns, row_number
from mbegu.features.ngrams import Ngrams, counted
from mbegu.features.tokens import TOKENIZER, TOKENIZERS, normalize, tokens

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
    tokenizer: int = 1  # how texts split (features.tokens.TOKENIZER); fit records the latest

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
        return tokens(
            text, self.lowercase, self.word_ngrams, self.char_ngrams, self.twitter, self.tokenizer
        )

    def ngrams(self) -> Ngrams:
        """The counter that gives these tokens for many texts at once (features.ngrams)."""
        return Ngrams(
            self.lowercase, self.word_ngrams, self.char_ngrams, self.twitter, self.tokenizer
        )

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
        done: Callable[[int], object] | None = None,
    ) -> TextEncoder:
        """Fit the vocabulary on the train split's texts.

        Keep the tokens seen at least `min_count` times in training, the `max_vocab` most
        frequent (ties in text order, so the vocabulary is the same on every machine), with the
        number of train texts each appears in (its idf).
        """
        found, counts, docs = counted(
            texts, lowercase, word_ngrams, char_ngrams, twitter, done=done, version=TOKENIZER
        )
        candidates = np.flatnonzero(counts >= min_count)
        ranked = sorted((-int(counts[i]), found[i], int(i)) for i in candidates)[:max_vocab]
        if not ranked:
            raise MbeguError(
                f"no token appears {min_count} times in the train split of {text_column}: "
                f"check data.text_column, or lower data.min_count"
            )
        return cls(
            text_column,
            target,
            classes,
            [token for _, token, _ in ranked],
            lowercase=lowercase,
            word_ngrams=word_ngrams,
            char_ngrams=char_ngrams,
            missing=missing,
            twitter=twitter,
            weighting=weighting,
            documents=len(texts),
            doc_counts=[int(docs[i]) for _, _, i in ranked],
            buckets=buckets,
            tokenizer=TOKENIZER,
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

    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The (ids, offsets, weights) of `bags` as tensors, as torch's EmbeddingBag reads them."""
        import torch

        ids, offsets, weights = self.bags(texts)
        return torch.from_numpy(ids), torch.from_numpy(offsets), torch.from_numpy(weights)

    def bags(
        self, texts: list[str], done: Callable[[int], object] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, offsets, weights): the flat token ids of all texts, where each text starts.

        And each id's weight, as EmbeddingBag(mode="sum") reads them (features.ngrams, by
        data.weighting). Tokens outside the vocabulary and its buckets are left out; a text with
        none is an empty bag (its prediction is the classifier's bias). Numpy arrays: torch and
        ONNX alike read them.

        Args:
            texts: The texts, raw.
            done: Told how many texts each batch held, once encoded (a progress bar).

        Returns:
            The ids (int64), the offsets (int64) and the weights (float32).
        """
        ngrams = self.ngrams()
        idf = None
        if self.weighting == "tfidf":
            idf = np.asarray(self._idf + [self._bucket_idf] * self.buckets, dtype=np.float64)
        return weighted_bags(ngrams, texts, self._ids, self.buckets, idf, done=done)

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
        """The encoder from its to_dict form.

        Raises:
            ValueError: A malformed field.
            MbeguError: A tokenizer version from a newer mbegu.
        """
        encoder = cls(**data)
        if type(encoder.tokenizer) is not int:
            raise ValueError(f"tokenizer {encoder.tokenizer!r} is not a version number")
        if encoder.tokenizer not in TOKENIZERS:  # saved by a newer mbegu: never guessed
            raise MbeguError(
                f"the text encoder splits texts with tokenizer {encoder.tokenizer!r}, which this "
                f"mbegu does not know (it has {', '.join(map(str, TOKENIZERS))}): upgrade mbegu"
            )
        if (
            not all(isinstance(t, str) for t in encoder.vocabulary)
            or len(encoder.char_ngrams) != 2
            or encoder.weighting not in WEIGHTINGS
            or (encoder.weighting == "tfidf" and len(encoder.doc_counts) != len(encoder.vocabulary))
        ):
            raise ValueError("wrong field types")
        return encoder
