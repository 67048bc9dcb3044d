"""Batches: whole-batch indexing and a shuffle that depends only on (seed, epoch).

Torch only, so the plain-PyTorch benchmark uses exactly the same order without Lightning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

import torch
from torch.utils.data import Dataset, Sampler

if TYPE_CHECKING:
    from mbegu.data.augment import Augment

T = TypeVar("T")

# What a network reads: a table's float rows, or a text's (token ids, offsets, weights).
TextInputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Inputs = torch.Tensor | TextInputs
# (inputs, labels): a batch, or a whole split encoded.
Batch = tuple[Inputs, torch.Tensor]


class TensorRows(Dataset):
    """Rows held as tensors; `__getitems__` fetches a whole batch with one index op."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(indices)
        return self.features[rows], self.labels[rows]


def as_batch(batch: T) -> T:
    """The batch `__getitems__` built, as it is.

    DataLoader's default collate would stack it again (torch types collate_fn as taking a list of
    rows).
    """
    return batch


class EpochSeededSampler(Sampler[int]):
    """A shuffle that depends only on (seed, epoch): a resumed run sees the same order."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for `epoch` next; Lightning calls this before each epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())


class TokenRows(Dataset):
    """Texts held as one flat tensor of token ids, each id's weight and each text's start.

    A batch is the (ids, offsets, weights) torch's EmbeddingBag reads, and the labels.
    """

    def __init__(
        self, ids: torch.Tensor, offsets: torch.Tensor, weights: torch.Tensor, labels: torch.Tensor
    ) -> None:
        self.ids, self.weights, self.labels = ids, weights, labels
        self.starts = offsets
        self.ends = torch.cat([offsets[1:], torch.tensor([len(ids)])])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[TextInputs, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> tuple[TextInputs, torch.Tensor]:
        rows = torch.as_tensor(indices)
        starts, ends = self.starts[rows], self.ends[rows]
        lengths = ends - starts
        offsets = torch.cat([torch.zeros(1, dtype=torch.int64), lengths.cumsum(0)[:-1]])
        # Every id of the batch in one gather: start of its text + its place within the text.
        within = torch.arange(int(lengths.sum())) - torch.repeat_interleave(offsets, lengths)
        where = torch.repeat_interleave(starts, lengths) + within
        return (self.ids[where], offsets, self.weights[where]), self.labels[rows]


class ImageRows(Dataset):
    """A split's cached pixels (uint8) and labels; a batch comes out normalised as float32.

    `__getitems__` fetches a whole batch with one index (the cache is paged in as read).
    """

    def __init__(
        self,
        pixels: torch.Tensor,
        labels: torch.Tensor,
        mean: list[float],
        std: list[float],
        augment: Augment | None = None,
    ) -> None:
        self.pixels, self.labels = pixels, labels
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.augment = augment if augment is not None and augment.active else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.__getitems__([index])
        return images[0], labels[0]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(indices)
        images = self.pixels[rows].to(torch.float32) / 255.0
        if self.augment is not None:
            images = self.augment(images)
        return (images - self.mean) / self.std, self.labels[rows]
