"""`data=text`: one text column of short texts -> weighted word and character n-gram ids.

The encoding itself is features.text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mbegu.data.base import FileData
from mbegu.errors import MbeguError
from mbegu.features import Encoder
from mbegu.features.text import WEIGHTINGS, TextEncoder
from mbegu.features.tokens import TOKENIZER

if TYPE_CHECKING:
    import pandas as pd


class TextData(FileData):
    """`data=text`: one text column -> word and character n-gram ids (features.text).

    Args:
        target: The label column.
        text_column: The column of texts.
        lowercase: Lower-case the texts before splitting them into tokens.
        word_ngrams: Words, and runs of up to this many words.
        char_ngrams: [shortest, longest] character n-grams of each word ([0, 0]: none).
        min_count: Keep the tokens seen at least this often in training ...
        max_vocab: ... the most frequent this many.
        **kwargs: The options every kind shares (FileData).

    Raises:
        MbeguError: `char_ngrams` is not a pair of counts.
    """

    kind = "text"

    def __init__(
        self,
        target: str,
        text_column: str = "text",
        lowercase: bool = True,
        word_ngrams: int = 2,
        char_ngrams: list[int] | None = None,
        min_count: int = 2,
        max_vocab: int = 200000,
        twitter: bool = True,
        weighting: str = "tfidf",
        buckets: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(target, **kwargs)
        if weighting not in WEIGHTINGS:
            raise MbeguError(f"data.weighting={weighting!r}: use one of {', '.join(WEIGHTINGS)}")
        if not isinstance(buckets, int) or isinstance(buckets, bool) or buckets < 0:
            raise MbeguError(f"data.buckets={buckets!r}: use 0 (none) or a count, e.g. 100000")
        self.twitter, self.weighting, self.buckets = bool(twitter), weighting, buckets
        self.text_column, self.lowercase = str(text_column), bool(lowercase)
        self.word_ngrams, self.min_count, self.max_vocab = word_ngrams, min_count, max_vocab
        pair = list(char_ngrams) if char_ngrams is not None else [3, 5]
        if len(pair) != 2 or not all(isinstance(n, int) and n >= 0 for n in pair):
            raise MbeguError(
                f"data.char_ngrams={pair!r}: give [shortest, longest], e.g. [3, 5] ([0, 0]: none)"
            )
        self.char_ngrams = (pair[0], pair[1])

    def options(self) -> dict[str, Any]:
        """The shared options plus the text encoder's.

        Returns:
            Each option's name and value.
        """
        return {
            **super().options(),
            "text_column": self.text_column,
            "lowercase": self.lowercase,
            "word_ngrams": self.word_ngrams,
            "char_ngrams": list(self.char_ngrams),
            "min_count": self.min_count,
            "max_vocab": self.max_vocab,
            "twitter": self.twitter,
            "weighting": self.weighting,
            "buckets": self.buckets,
            # How texts split: a split prepared by an older tokenizer is fitted again.
            "tokenizer": TOKENIZER,
        }

    def input_columns(self, frame: pd.DataFrame, where: str) -> list[str]:
        """The one text column, data.text_column.

        Args:
            frame: The rows of one source file.
            where: The file, as error lines name it.

        Returns:
            [data.text_column].

        Raises:
            MbeguError: The file has no such column.
        """
        if self.text_column not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:8]))
            raise MbeguError(
                f"{where} has no column {self.text_column!r} (data.text_column): its columns "
                f"are {shown}"
            )
        return [self.text_column]

    def fit_encoder(self, train: pd.DataFrame, columns: list[str], classes: list[str]) -> Encoder:
        """Fit the text encoder's vocabulary on the train split's texts (a missing text is empty).

        Args:
            train: The train split's rows.
            columns: The input columns (the text column).
            classes: The class names, in order.

        Returns:
            The fitted TextEncoder, read back from data.token_cache where this data and these
            options were fitted before.
        """
        import contextlib

        from mbegu.data.token_cache import fitted
        from mbegu.progress import BIG_FRAME, rows_bar

        def fit() -> TextEncoder:
            texts = [t if isinstance(t, str) else "" for t in train[self.text_column].tolist()]
            bar = rows_bar("fitting the tokenizer", len(texts) >= BIG_FRAME, len(texts))
            with bar if bar is not None else contextlib.nullcontext():
                return self._fit(texts, classes, bar.update if bar is not None else None)

        return fitted(self.identity or self.manifest(), fit)  # hashed once by load/prepare

    def _fit(
        self, texts: list[str], classes: list[str], done: Callable[[int], object] | None
    ) -> TextEncoder:
        return TextEncoder.fit(
            texts,
            self.text_column,
            self.target,
            classes,
            lowercase=self.lowercase,
            word_ngrams=self.word_ngrams,
            char_ngrams=self.char_ngrams,
            min_count=self.min_count,
            max_vocab=self.max_vocab,
            missing=self.missing,
            twitter=self.twitter,
            weighting=self.weighting,
            buckets=self.buckets,
            done=done,
        )
