"""`data.augment`: random changes to the train split's images, never to val or test.

Augmentation runs on whole batches in torch (a flip, a random resized crop by one
`grid_sample`, brightness and contrast), so it costs a fraction of the forward pass and needs
no torchvision. Val and test batches are the cached pixels normalised, nothing else
(data.loading.ImageRows): the scores measure the model on the images as they are. torch is
imported only when a batch is changed: `prepare` reads the options without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Augment:
    """`data.augment`: what random change each training image gets.

    Attributes:
        hflip: Mirror left-right half of the images (not for text or digits, whose mirror
            image is another thing).
        crop_scale: A random square crop of at least this share of the area, resized back
            to the image size; 1.0: off.
        jitter: Brightness and contrast each scaled by a factor in [1 - jitter, 1 + jitter];
            0.0: off.
    """

    hflip: bool = False
    crop_scale: float = 1.0
    jitter: float = 0.0

    @classmethod
    def from_options(cls, options: Any) -> Augment:
        """From the `data.augment` mapping (None: off); an unknown key or value is one line."""
        given = dict(options or {})
        unknown = sorted(set(given) - {"hflip", "crop_scale", "jitter"})
        if unknown:
            raise MbeguError(
                f"data.augment.{unknown[0]}: not an option (hflip, crop_scale, jitter)"
            )
        augment = cls(
            hflip=bool(given.get("hflip", False)),
            crop_scale=float(given.get("crop_scale", 1.0)),
            jitter=float(given.get("jitter", 0.0)),
        )
        if not 0.05 <= augment.crop_scale <= 1.0:
            raise MbeguError(
                f"data.augment.crop_scale={augment.crop_scale}: use a share of the area from "
                f"0.05 to 1.0 (1.0: no crop), e.g. 0.6"
            )
        if not 0.0 <= augment.jitter < 1.0:
            raise MbeguError(
                f"data.augment.jitter={augment.jitter}: use 0.0 (off) to 0.9, e.g. 0.2"
            )
        return augment

    @property
    def active(self) -> bool:
        """Whether any change is on."""
        return self.hflip or self.crop_scale < 1.0 or self.jitter > 0.0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """A batch (N x C x H x W, floats in [0, 1]) changed at random, each image its own way."""
        import torch
        import torch.nn.functional as F

        n = images.shape[0]
        if self.hflip:
            flip = torch.rand(n) < 0.5
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        if self.crop_scale < 1.0:
            side = torch.sqrt(torch.empty(n).uniform_(self.crop_scale, 1.0))  # of the image side
            shift = (1 - side) * torch.empty(2, n).uniform_(-1, 1)  # the crop stays inside
            theta = torch.zeros(n, 2, 3)
            theta[:, 0, 0], theta[:, 1, 1] = side, side
            theta[:, 0, 2], theta[:, 1, 2] = shift[0], shift[1]
            grid = F.affine_grid(theta, list(images.shape), align_corners=False)
            images = F.grid_sample(images, grid, mode="bilinear", align_corners=False)
        if self.jitter > 0.0:
            low, high = 1 - self.jitter, 1 + self.jitter
            brightness = torch.empty(n, 1, 1, 1).uniform_(low, high)
            contrast = torch.empty(n, 1, 1, 1).uniform_(low, high)
            mean = images.mean(dim=(1, 2, 3), keepdim=True)
            images = ((images * brightness - mean) * contrast + mean).clamp(0.0, 1.0)
        return images
