"""The image encoder: a photo's bytes in, a normalised `channels x size x size` array out.

Training, `mbegu predict`, the MLflow model and the ONNX model all read images through
`decode_image` and `ImageEncoder.normalise`: the same EXIF rotation, the same channel mode,
the same resize and the same train-split mean and spread, saved with the model as plain JSON.
JPEG, PNG and WebP (anything Pillow opens that is not animated) are read; nothing is written.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.errors import MbeguError, first_line

if TYPE_CHECKING:
    import pandas as pd
    import torch

# Pillow's own guard warns from 89 MP and refuses from 179 MP, but phones shoot 50, 108 and
# 200 MP photos (a JPEG decodes at a fraction of its size here). Past this, decoding would take
# seconds and gigabytes: refused as a decompression bomb.
MAX_PIXELS = 250_000_000
# EXIF orientation -> the turn that shows the photo upright (as Pillow's exif_transpose).
UPRIGHT = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MODES = {1: "L", 3: "RGB"}
# The columns of an image data set's rows: the image (a file path or its bytes) and its class.
IMAGE_COLUMN, LABEL_COLUMN = "image", "label"


def decode_image(
    source: str | Path | bytes, size: int, channels: int, name: str = ""
) -> np.ndarray:
    """Decode, rotate as the camera said (EXIF), convert and resize one image.

    Args:
        source: a file path or the file's bytes.
        size: the side of the square it is resized to (bilinear, aspect not kept, as most
            vision pipelines do for small models).
        channels: 1 (grayscale) or 3 (RGB); transparency is laid on white.
        name: how the error lines name it (default: the path).

    Returns:
        uint8 array `channels x size x size`.

    Raises:
        MbeguError: an empty, corrupt or non-image file, or one larger than MAX_PIXELS; one
            line naming the file and what to do.
    """
    from PIL import Image, UnidentifiedImageError

    label = name or (str(source) if not isinstance(source, bytes) else "the image")
    data = source if isinstance(source, bytes) else _read(Path(source), label)
    if not data:
        raise MbeguError(f"{label}: the file is empty (0 bytes): replace or remove it")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS  # refused below with the file's name, not at 2x it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb and EXIF warnings: refused or handled here
            with Image.open(io.BytesIO(data)) as opened:
                width, height = opened.size
                if width * height > MAX_PIXELS:
                    raise MbeguError(
                        f"{label}: {width}x{height} pixels is over the {MAX_PIXELS // 10**6} MP "
                        f"limit (a decompression bomb?): shrink it or remove it"
                    )
                opened.draft(MODES[channels], (size * 2, size * 2))  # JPEG: decode smaller
                image = _upright(opened)
                image = _to_mode(image, channels)
                image = image.resize((size, size), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.uint8)
    except MbeguError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MbeguError(
            f"{label}: over the {MAX_PIXELS // 10**6} MP limit (a decompression bomb?): "
            f"shrink it or remove it"
        ) from None
    except UnidentifiedImageError:
        raise MbeguError(
            f"{label}: not an image Pillow can read (JPEG, PNG, WebP, BMP, GIF, TIFF): convert, "
            f"replace or remove it"
        ) from None
    except Exception as err:  # truncated or corrupt data: Pillow's decoders raise many types
        raise MbeguError(
            f"{label}: the image is corrupt ({first_line(err, 120)}): replace or remove it"
        ) from None
    return array[None] if channels == 1 else array.transpose(2, 0, 1).copy()


def _upright(image: Any) -> Any:
    """The photo turned as its EXIF orientation says; a damaged EXIF block leaves it as stored.

    Pillow's exif_transpose also rewrites the EXIF block, and raises struct.error or TypeError
    on a damaged one: the orientation tag alone is read here.
    """
    from PIL import Image

    try:
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:  # unreadable EXIF: shown as stored, as most viewers do
        orientation = 1
    method = UPRIGHT.get(orientation)
    return image.transpose(getattr(Image.Transpose, method)) if method else image


def _read(path: Path, label: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MbeguError(f"{label}: no such image file: check the path") from None
    except IsADirectoryError:
        raise MbeguError(f"{label}: is a folder, not an image file: give an image") from None
    except PermissionError:
        raise MbeguError(f"{label}: cannot be read (permission denied): fix its mode") from None


def _to_mode(image: Any, channels: int) -> Any:
    """Grayscale or RGB; a transparent image is laid on white, not on black.

    A 16-bit or 32-bit grayscale image (medical and scientific scans) is scaled from the 16-bit
    range to 8 bits (value / 257, as a 16-bit-to-8-bit export does): Pillow's own conversion
    clips every value over 255, which would turn such a scan almost white.
    """
    from PIL import Image

    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        wide = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.rint(wide), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert(MODES[channels])


@dataclass
class ImageEncoder:
    """Fitted on the train split's pixels (`fit`), saved as JSON (`to_dict`), applied anywhere."""

    classes: list[str]
    image_size: int
    channels: int
    mean: list[float]  # per channel, of the train split's pixels scaled to [0, 1]
    std: list[float]
    kind: str = "image"

    def __post_init__(self) -> None:
        if self.channels not in MODES:
            raise ValueError(f"channels must be 1 or 3, not {self.channels}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean and std need one value per channel")
        if self.image_size < 8:
            raise ValueError(f"image_size {self.image_size} is under 8")

    @property
    def columns(self) -> list[str]:
        """The one input column: each row's image, a file path or the file's bytes."""
        return [IMAGE_COLUMN]

    @property
    def target(self) -> str:
        """The label column of an image data set's rows (the class folder's name)."""
        return LABEL_COLUMN

    @property
    def sizes(self) -> dict[str, int]:
        """What a network is built with: no count is typed by hand."""
        return {
            "in_channels": self.channels,
            "image_size": self.image_size,
            "num_classes": len(self.classes),
        }

    @classmethod
    def fit(cls, pixels: np.ndarray, classes: list[str]) -> ImageEncoder:
        """Per-channel mean and spread of the train split's decoded pixels (N x C x H x W uint8).

        Summed 1,024 images at a time: a large split (or a memory-mapped one) is never held
        in float64 whole.
        """
        total = np.zeros(pixels.shape[1])
        squares = np.zeros(pixels.shape[1])
        for start in range(0, len(pixels), 1024):
            chunk = pixels[start : start + 1024].astype(np.float64) / 255.0
            total += chunk.sum(axis=(0, 2, 3))
            squares += (chunk * chunk).sum(axis=(0, 2, 3))
        count = max(1, pixels.shape[0] * pixels.shape[2] * pixels.shape[3])
        mean = total / count
        variance = np.maximum(squares / count - mean * mean, 0.0)
        std = np.maximum(np.sqrt(variance), 1e-3)  # a flat channel: no division by 0
        return cls(
            classes=list(classes),
            image_size=int(pixels.shape[-1]),
            channels=int(pixels.shape[1]),
            mean=[round(float(m), 6) for m in mean],
            std=[round(float(s), 6) for s in std],
        )

    def decode(self, source: str | Path | bytes, name: str = "") -> np.ndarray:
        """One image, as training decoded its own (uint8, C x H x W)."""
        return decode_image(source, self.image_size, self.channels, name)

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N x C x H x W or C x H x W) to the float32 the network reads."""
        shape = (-1, 1, 1) if pixels.ndim == 3 else (1, -1, 1, 1)
        mean = np.asarray(self.mean, dtype=np.float32).reshape(shape)
        std = np.asarray(self.std, dtype=np.float32).reshape(shape)
        return (pixels.astype(np.float32) / np.float32(255.0) - mean) / std

    def labels(self, frame: pd.DataFrame, where: str) -> np.ndarray:
        """Each row's class index, refused for a label outside the classes."""
        from mbegu.features.cells import class_indices

        return class_indices(frame, self.target, self.classes, where)

    def transform(
        self, frame: pd.DataFrame, where: str = "the input", start: int = 0
    ) -> torch.Tensor:
        """The rows' images decoded and normalised: float32 [rows, channels, size, size].

        `start`: the frame's first row in its file (a chunk of it), as an error names rows.
        """
        import torch

        return torch.from_numpy(self.normalise(self.pixels(frame, where, start)))

    def pixels(self, frame: pd.DataFrame, where: str = "the input", start: int = 0) -> np.ndarray:
        """The rows' images decoded, not normalised: uint8 [rows, channels, size, size].

        What ONNX serving feeds through `normalise` without torch, and what the misclassified
        grid and the pixel baseline read.
        """
        from mbegu.features.cells import require_columns, row_number

        require_columns(frame, self.columns, where)
        pixels = np.zeros(
            (len(frame), self.channels, self.image_size, self.image_size), dtype=np.uint8
        )
        for i, value in enumerate(frame[IMAGE_COLUMN].tolist()):
            if not isinstance(value, str | bytes | Path):
                raise MbeguError(
                    f"{where} row {row_number(start + i)} has no image ({value!r}): give a "
                    f"file path or the file's bytes"
                )
            name = f"{where} row {row_number(start + i)}" if isinstance(value, bytes) else ""
            pixels[i] = self.decode(value, name)  # a path names itself
        return pixels

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, saved with the model."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageEncoder:
        """Rebuilt from `to_dict`'s output; a missing or mistyped field raises."""
        return cls(
            classes=[str(c) for c in data["classes"]],
            image_size=int(data["image_size"]),
            channels=int(data["channels"]),
            mean=[float(m) for m in data["mean"]],
            std=[float(s) for s in data["std"]],
        )
