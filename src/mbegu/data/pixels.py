"""Every image decoded once into a uint8 array per split: the `prepare` stage's pixel cache.

`prepare` writes `pixels-train.npy`, `pixels-val.npy` and `pixels-test.npy` (N x C x H x W
uint8, in the order of the split's rows) beside the split's rows; training maps them
(`np.load(mmap_mode="c")`), so no epoch decodes a JPEG again and a data set larger than memory
is paged in as batches ask for it. Decoding runs on threads: Pillow releases the GIL while it
decodes and resizes, so the cores share the work without a process each.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.image import decode_image

# Below this, an image whose channels differ by at most this much is grey (JPEG noise).
GREY_TOLERANCE = 2


def pixels_file(out_dir: Path, split: str) -> Path:
    """Where the `prepare` stage keeps one split's decoded pixels."""
    return out_dir / f"pixels-{split}.npy"


def decode_all(
    paths: Sequence[Path], size: int, channels: int, workers: int
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Decode `paths` into one N x C x size x size uint8 array.

    Args:
        paths: The image files.
        size: The side each is resized to.
        channels: 1 or 3.
        workers: Threads decoding at once.

    Returns:
        The pixels (a bad file's row is zeros) and (index, error line) of each bad file.
    """
    out = np.zeros((len(paths), channels, size, size), dtype=np.uint8)
    bad: list[tuple[int, str]] = []

    def one(index: int) -> None:
        try:
            out[index] = decode_image(paths[index], size, channels)
        except MbeguError as err:
            bad.append((index, str(err)))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, range(len(paths))))
    return out, sorted(bad)


def has_colour(pixels: np.ndarray) -> bool:
    """Whether any of these RGB images (N x 3 x H x W) is not grey."""
    wide = pixels.astype(np.int16)
    return bool(
        (np.abs(wide[:, 0] - wide[:, 1]) > GREY_TOLERANCE).any()
        or (np.abs(wide[:, 1] - wide[:, 2]) > GREY_TOLERANCE).any()
    )


def to_grey(pixels: np.ndarray) -> np.ndarray:
    """RGB (N x 3 x H x W) to one channel with Pillow's own weights (ITU-R 601-2 luma).

    An image that is grey comes out exactly as Pillow's "L" decodes it.
    """
    wide = pixels.astype(np.uint32)
    grey = (wide[:, 0] * 19595 + wide[:, 1] * 38470 + wide[:, 2] * 7471 + 0x8000) >> 16
    return grey.astype(np.uint8)[:, None]


def read_pixels(out_dir: Path, split: str) -> np.ndarray:
    """One split's pixel cache, mapped copy-on-write: pages are read as batches touch them.

    Raises:
        MbeguError: The file is missing or not a pixel array.
    """
    path = pixels_file(out_dir, split)
    try:
        pixels = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise MbeguError(
            f"{path} is not a readable pixel cache ({err}): run `dvc repro prepare`"
        ) from None
    if pixels.dtype != np.uint8 or pixels.ndim != 4:
        raise MbeguError(f"{path} is not a uint8 N x C x H x W array: run `dvc repro prepare`")
    return pixels
