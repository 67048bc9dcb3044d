"""Networks as plain nn.Modules: swapping one never touches the training logic.

Sizes (inputs, vocabulary, channels, image side, classes) are not in conf/: train() reads them
from the data's encoder (models.build) and records them in the model folder. `takes` says which
data a network reads: a table's float vectors, a text's (ids, offsets, weights) bags, or images
(N x C x H x W); a network built for one says so on the instance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from mbegu.errors import MbeguError


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout blocks, then a linear classifier: any table."""

    takes = "table"

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden_sizes: Sequence[int] = (128, 64),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of a batch of encoded rows."""
        return self.layers(x)


class CNN(nn.Module):
    """Conv3x3 -> BatchNorm -> ReLU blocks on a square image, then a linear classifier.

    Two inputs: images (`data=images`: in_channels and image_size from the data), where the
    blocks max-pool down to about 4 x 4 and a global average pool feeds the classifier, so a
    64 x 64 photo costs about as much as a small table; or a table's row read as a square
    grey image (the digits' 8 x 8 pixels), pooled once after the first block and flattened.
    """

    takes: str | tuple[str, ...] = ("table", "image")

    def __init__(
        self,
        in_features: int | None = None,
        num_classes: int = 2,
        channels: Sequence[int] = (16, 32),
        dropout: float = 0.2,
        in_channels: int = 1,
        image_size: int | None = None,
    ) -> None:
        super().__init__()
        if image_size is not None:
            self.takes = "image"
            self.image_size, self.in_channels = image_size, in_channels
            self.features = image_blocks(in_channels, channels, image_size)
            width = channels[-1]
            self.head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Dropout(dropout),
                nn.Linear(width, num_classes),
            )
            return
        self.takes = "table"
        if in_features is None:
            raise MbeguError("model=cnn needs the data's sizes: it reads images or square rows")
        side = math.isqrt(in_features)
        if side * side != in_features or side < 2:
            raise MbeguError(
                f"model=cnn reads each row as a square image, but the data has {in_features} "
                f"inputs after encoding, not a square number: use model=mlp"
            )
        self.image_size, self.in_channels = side, 1
        layers: list[nn.Module] = []
        width = 1
        for i, out in enumerate(channels):
            layers += [nn.Conv2d(width, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            if i == 0:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            width = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * side * side, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of a batch of images, or of rows each reshaped into a square image."""
        image = x.reshape(-1, self.in_channels, self.image_size, self.image_size)
        return self.head(self.features(image))


def image_blocks(in_channels: int, channels: Sequence[int], image_size: int) -> nn.Sequential:
    """Conv3x3 -> BatchNorm -> ReLU -> MaxPool blocks that bring `image_size` to about 4.

    The pooling is shared out over the blocks, the early ones pooling more: the costly
    full-size convolutions come first, so shrinking early keeps a 64 x 64 image cheap.
    """
    if not channels:
        raise MbeguError("model.net.channels is empty: give one width per block, e.g. [16, 32]")
    halvings = max(0, round(math.log2(image_size / 4)))
    per_block = [halvings // len(channels)] * len(channels)
    for i in range(halvings - sum(per_block)):
        per_block[i] += 1
    layers: list[nn.Module] = []
    width = in_channels
    for out, halve in zip(channels, per_block, strict=True):
        layers += [nn.Conv2d(width, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        if halve:
            layers.append(nn.MaxPool2d(2**halve))
        width = out
    return nn.Sequential(*layers)


class BagOfNgrams(nn.Module):
    """fastText's classifier: a text's n-grams embedded and summed with the encoder's weights.

    The weights are TF-IDF or a mean; a linear layer follows. `linear` adds a linear layer on
    the bag itself (logistic regression's view of the same n-grams).
    """

    takes = "text"

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 64,
        dropout: float = 0.2,
        linear: bool = False,
    ) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, embedding_dim, mode="sum")
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embedding_dim, num_classes))
        self.linear = LinearBag(vocab_size, num_classes, bias=False) if linear else None

    def forward(self, x: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The logits of a batch of texts given as (ids, offsets, weights)."""
        ids, offsets, weights = x
        logits = self.head(self.bag(ids, offsets, per_sample_weights=weights))
        return logits if self.linear is None else logits + self.linear(x)

    def padded(self, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The logits forward gives, from [texts, length] ids and weights (padding weighs 0)."""
        logits = self.head(padded_bag(self.bag, ids, weights))
        return logits if self.linear is None else logits + self.linear.padded(ids, weights)


class LinearBag(nn.Module):
    """Multinomial logistic regression on the encoder's bag: one weight per (n-gram, class).

    And a bias: one linear layer over the sparse TF-IDF vector, stored as an EmbeddingBag,
    which skips the zeros. L2 comes from the optimizer's weight_decay.
    """

    takes = "text"

    def __init__(self, vocab_size: int, num_classes: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.EmbeddingBag(vocab_size, num_classes, mode="sum")
        nn.init.zeros_(self.weight.weight)  # logistic regression's start: every class alike
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None

    def forward(self, x: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """The logits of a batch of texts given as (ids, offsets, weights)."""
        ids, offsets, weights = x
        logits = self.weight(ids, offsets, per_sample_weights=weights)
        return logits if self.bias is None else logits + self.bias

    def padded(self, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The logits forward gives, from [texts, length] ids and weights (padding weighs 0)."""
        logits = padded_bag(self.weight, ids, weights)
        return logits if self.bias is None else logits + self.bias


def padded_bag(bag: nn.EmbeddingBag, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """EmbeddingBag(mode="sum")'s weighted sums, from a padded batch instead of offsets.

    Gather, multiply, sum: the three operators every ONNX runtime has, where the bag's own
    operator exports as a loop over the offsets.
    """
    return (bag.weight[ids] * weights.unsqueeze(-1)).sum(dim=1)
