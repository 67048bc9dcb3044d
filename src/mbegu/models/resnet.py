"""A small ResNet for `data=images`, in plain torch: trained from scratch, nothing downloaded.

He et al.'s CIFAR ResNets at a laptop's scale: a 3x3 stem, stages of BasicBlocks (two 3x3
convolutions and a shortcut), each stage after the first halving the side and widening, then a
global average pool and a linear classifier. The stem pools large images down to 32 x 32
first, so a 64 x 64 or 128 x 128 photo costs about what a 32 x 32 one does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from mbegu.errors import MbeguError


class BasicBlock(nn.Module):
    """Two Conv3x3 -> BatchNorm layers with a shortcut around them, then ReLU."""

    def __init__(self, width_in: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width_in, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or width_in != width:  # a 1x1 projection where the shape changes
            self.shortcut = nn.Sequential(
                nn.Conv2d(width_in, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block's output: F(x) + x."""
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """Stem, stages of BasicBlocks, global average pool, linear classifier.

    Args:
        in_channels: 1 (grey) or 3 (RGB), from the data.
        image_size: The images' side, from the data.
        num_classes: From the data.
        widths: Each stage's channels; a stage after the first halves the side.
        blocks: Each stage's number of BasicBlocks ([1, 1, 1]: 8 layers; [3, 3, 3]: ResNet-20).
        dropout: Before the classifier.
    """

    takes = "image"

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 2,
        widths: Sequence[int] = (16, 32, 64),
        blocks: Sequence[int] = (1, 1, 1),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not widths or len(widths) != len(blocks) or min(blocks) < 1:
            raise MbeguError(
                f"model.net.widths={list(widths)} and model.net.blocks={list(blocks)}: give one "
                f"width and one block count (1 or more) per stage, e.g. [16, 32, 64] and [1, 1, 1]"
            )
        self.image_size, self.in_channels = image_size, in_channels
        pool = 2 ** max(0, math.ceil(math.log2(image_size / 32)))  # to 32 x 32 or less
        stem: list[nn.Module] = [
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        if pool > 1:
            stem.append(nn.MaxPool2d(pool))
        layers: list[nn.Module] = []
        width_in = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                layers.append(BasicBlock(width_in, width, stride))
                width_in = width
        self.stem = nn.Sequential(*stem)
        self.stages = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(width_in, num_classes),
        )
        for module in self.modules():  # He initialisation, as the paper's
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of a batch of images (N x C x H x W, normalised)."""
        return self.head(self.stages(self.stem(x)))
