"""What training, evaluation and the MLflow model read from a loaded data set: encoded splits.

A mixin of data.base.FileData, kept apart from reading, splitting and fitting: each split
encoded once per process (a text's tokens kept across processes by data.token_cache), as
tensors, as a Dataset, and a few raw rows as the MLflow model's input example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mbegu.data.prepared import complete_rows, encode_from_file, streamed
from mbegu.data.token_cache import remembered
from mbegu.features import Encoder
from mbegu.features.labels import as_text
from mbegu.features.table import TableEncoder
from mbegu.features.text import TextEncoder

if TYPE_CHECKING:
    import pandas as pd
    from torch.utils.data import Dataset

    from mbegu.data.loading import Batch


class EncodedSplits:
    """Each split's rows encoded as the network reads them, from `load`'s encoder and rows."""

    frames: dict[str, pd.DataFrame]
    _tensors: dict[str, Batch]
    identity: dict[str, Any]

    def load(self) -> Encoder:
        """The fitted encoder, with the split's rows in `frames` (data.base.FileData.load)."""
        raise NotImplementedError

    def tensors(self, split: str) -> Batch:
        """(inputs, labels) of one split, encoded: what the network reads.

        Args:
            split: "train", "val" or "test".

        Returns:
            The split's encoded inputs and label indices (kept for the next call).
        """
        import torch

        encoder = self.load()
        fresh = split not in self._tensors
        if fresh and isinstance(encoder, TableEncoder) and streamed(self.frames, split):
            # Never held as text (data.prepared).
            self._tensors[split] = encode_from_file(encoder, self.frames, split)
        if split not in self._tensors:
            from mbegu.data.encoding import encoded

            def encode() -> Batch:
                frame, where = self.frames[split], f"the {split} split"
                labels = torch.from_numpy(encoder.labels(frame, where))
                return encoded(encoder, frame, where, split), labels

            self._tensors[split] = (
                remembered(self.identity, encoder, split, encode)
                if isinstance(encoder, TextEncoder) and self.identity
                else encode()
            )
        return self._tensors[split]

    def dataset(self, split: str) -> Dataset:
        """One split as the DataLoader reads it: whole batches by one index op (data.loading).

        Args:
            split: "train", "val" or "test".

        Returns:
            The split's rows: encoded table rows, or texts as token bags.
        """
        from mbegu.data.loading import TensorRows, TokenRows

        inputs, labels = self.tensors(split)
        if isinstance(inputs, tuple):  # a text's (ids, offsets, weights)
            return TokenRows(*inputs, labels)
        return TensorRows(inputs, labels)

    def example_frame(self, rows: int = 5) -> pd.DataFrame:
        """A few raw test rows, typed as the model reads them: the MLflow model's input example.

        They hold the input columns only; the MLflow model's signature is inferred from them too.

        Args:
            rows: At most this many rows (rows with a gap are left out).

        Returns:
            The rows, indexed from 0.
        """
        encoder = self.load()
        frame = complete_rows(self.frames, "test", encoder.columns, rows).copy()
        for column in getattr(encoder, "numeric", []):
            frame[column] = frame[column].astype("float64")
        for column in encoder.columns:
            if column not in getattr(encoder, "numeric", []):
                frame[column] = frame[column].map(as_text).astype(object)
        return frame.reset_index(drop=True)
