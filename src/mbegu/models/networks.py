"""Networks as plain nn.Modules: swapping one never touches the training logic.

Each takes raw flat pixel rows (N, features) and scales them itself, so a saved model
predicts straight from CSV rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """Linear -> ReLU -> Dropout blocks, then a linear classifier."""

    def __init__(
        self,
        in_features: int = 64,
        hidden_sizes: Sequence[int] = (128, 64),
        num_classes: int = 10,
        dropout: float = 0.1,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_scale = input_scale
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.float() / self.input_scale)


class CNN(nn.Module):
    """Conv3x3 -> BatchNorm -> ReLU blocks on the square image, then a linear classifier."""

    def __init__(
        self,
        image_size: int = 8,
        channels: Sequence[int] = (16, 32),
        num_classes: int = 10,
        dropout: float = 0.2,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.image_size, self.input_scale = image_size, input_scale
        layers: list[nn.Module] = []
        width, side = 1, image_size
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
        image = x.float().reshape(-1, 1, self.image_size, self.image_size) / self.input_scale
        return self.head(self.features(image))


class Probabilities(nn.Module):
    """Wraps a trained network for serving: raw rows in, class probabilities out."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1)
