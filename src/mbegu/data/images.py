"""`data=images`: a folder with one subfolder per class of photos (JPEG, PNG, WebP...).

The `prepare` stage decodes every image once (data.image_build) and writes, beside the split's
rows (each image's path inside its folder and its class) and the encoder, one uint8 pixel array
per split (data.pixels). Training maps those arrays and never opens a photo; it normalises with
the train split's mean and spread and augments the train split only (data.augment). The
decoding itself is features.image, which `predict` and the served model share.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from mbegu.data import cache
from mbegu.data.base import FileData
from mbegu.data.folders import listing_md5
from mbegu.data.pixels import pixels_file, read_pixels
from mbegu.data.split import SPLITS, is_prepared, read_encoder, read_split, split_file
from mbegu.errors import MbeguError
from mbegu.features import Encoder, encoder_from_dict
from mbegu.features.image import IMAGE_COLUMN, ImageEncoder

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from torch.utils.data import Dataset


class ImageData(FileData):
    """`data=images`: class folders -> decoded, resized pixels (features.image).

    Args:
        name: Names the MLflow experiment and registered model.
        dir: The data folder DVC tracks; every folder below lies in it.
        path: One folder of class folders, split by seed (stratified) ...
        train_path: ... or three folders of class folders, used as they are.
        val_path: The given val folder.
        test_path: The given test folder.
        image_size: The side every image is resized to (square).
        channels: 1 (grey) or 3 (RGB); None: 3 when any train image has colour, else 1.
        classes: The class folders to use, in this order; None: every one, sorted.
        val_fraction: With `path`: the share of each class held out for validation ...
        test_fraction: ... and for the final test.
        batch_size: Images per batch.
        num_workers: DataLoader worker processes (0: batches in the training process).
        skip_bad_images: Leave out files that cannot be decoded (counted in one line), instead
            of stopping at the first one.
        augment: {hflip, crop_scale, jitter} for the train split (data.augment.Augment).
        processed_dir: The `prepare` stage's folder.
        seed: Seeds the split.

    Raises:
        MbeguError: A bad image size, channel count or augment option.
    """

    kind = "image"

    def __init__(
        self,
        name: str = "images",
        dir: str = "data",
        path: str | None = None,
        train_path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        image_size: int = 64,
        channels: int | None = None,
        classes: list[object] | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        batch_size: int = 64,
        num_workers: int = 0,
        skip_bad_images: bool = False,
        augment: Any = None,
        processed_dir: str = "artifacts/processed",
        seed: int = 0,
    ) -> None:
        from mbegu.data.augment import Augment
        from mbegu.features.image import LABEL_COLUMN

        given = [train_path, val_path, test_path]
        if (path is None and not all(given)) or (path is not None and any(given)):
            raise MbeguError(
                "give either data.path (one folder of class folders, split by seed) or all "
                "three of data.train_path, data.val_path and data.test_path (given splits), "
                "e.g. data.path=data/leaves"
            )
        super().__init__(
            LABEL_COLUMN,
            name=name,
            dir=dir,
            path=path,
            train_path=train_path,
            val_path=val_path,
            test_path=test_path,
            classes=classes,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            batch_size=batch_size,
            processed_dir=processed_dir,
            seed=seed,
        )
        if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 8:
            raise MbeguError(f"data.image_size={image_size!r}: use a side of 8 or more, e.g. 64")
        if channels not in (None, 1, 3):
            raise MbeguError(f"data.channels={channels!r}: use 1 (grey), 3 (RGB) or null (found)")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise MbeguError(f"data.num_workers={num_workers!r}: use 0 or a count of processes")
        self.image_size, self.channels, self.num_workers = image_size, channels, num_workers
        self.skip_bad_images = bool(skip_bad_images)
        self.augment = Augment.from_options(augment)

    def options(self) -> dict[str, Any]:
        """What shapes the prepared pixels (the manifest compares it); not batches or workers."""
        return {
            "kind": self.kind,
            "classes": self.classes,
            "image_size": self.image_size,
            "channels": self.channels,
            "skip_bad_images": self.skip_bad_images,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
        }

    def manifest(self) -> dict[str, Any]:
        """Each folder's listing md5 (names and sizes, read by stat) and the options."""
        sources = {key: listing_md5(path) for key, path in self.sources.items()}
        return {"sources": sources, "options": self.options()}

    def load(self) -> Encoder:
        """The encoder, rows and pixels: the `prepare` stage's when they match, else decoded.

        Either way once per process (data.cache). The rows' image column holds each file's
        full path, so evaluate reads the test images through the saved model as `predict` does.

        Returns:
            The fitted ImageEncoder.
        """
        if self.encoder is None:
            manifest = self.manifest()
            key = cache.key(type(self).__name__, manifest)
            if self.recalled(key):
                return cast(Encoder, self.encoder)
            if self._prepared(manifest):
                encoder = encoder_from_dict(read_encoder(self.processed_dir), "encoder.json")
                frames = {s: read_split(split_file(self.processed_dir, s)) for s in SPLITS}
                pixels = {s: read_pixels(self.processed_dir, s) for s in SPLITS}
            else:
                from mbegu.data.image_build import build_images

                built = build_images(self)
                encoder, frames, pixels = built.encoder, built.frames, built.pixels
            self.encoder = encoder
            self.frames = {split: self._full_paths(split, frames[split]) for split in SPLITS}
            self._tensors = self._as_tensors(pixels)
            self.kept(key)
        return self.encoder

    def prepare(self, out_dir: Path | None = None) -> dict[str, int]:
        """The `prepare` stage: decode every image and write rows, pixels and encoder.

        Always decoded: DVC runs the stage when the folder's content changed, which a
        listing of names and sizes may not show.

        Returns:
            Each split's number of images.
        """
        from mbegu.data.image_build import build_images
        from mbegu.data.split import write_prepared

        manifest = self.manifest()
        built = build_images(self)
        out = out_dir or self.processed_dir
        arrays = {pixels_file(Path(), split).name: built.pixels[split] for split in SPLITS}
        return write_prepared(out, built.frames, built.encoder.to_dict(), manifest, arrays)

    def tensors(self, split: str) -> tuple[Any, Any]:
        """(pixels, labels) of one split: uint8 N x C x H x W, mapped from the cache."""
        self.load()
        return self._tensors[split]

    def dataset(self, split: str) -> Dataset:
        """The split's batches, normalised; augmented for the train split only."""
        from mbegu.data.loading import ImageRows

        encoder = self.load()
        assert isinstance(encoder, ImageEncoder)
        pixels, labels = self.tensors(split)
        augment = self.augment if split == "train" else None
        return ImageRows(pixels, labels, encoder.mean, encoder.std, augment)

    def example_frame(self, rows: int = 5) -> pd.DataFrame:
        """A few test images as PNG bytes in an `image` column: the MLflow model's example.

        Made from the pixel cache, so no photo is opened; PNG at the model's size decodes to
        exactly these pixels.
        """
        import pandas as pd
        from PIL import Image

        self.load()
        pixels = self.tensors("test")[0][:rows].numpy()
        images = []
        for image in pixels:
            plane = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
            buffer = io.BytesIO()
            Image.fromarray(plane).save(buffer, format="PNG")
            images.append(buffer.getvalue())
        return pd.DataFrame({IMAGE_COLUMN: images})

    def _prepared(self, manifest: dict[str, Any]) -> bool:
        return is_prepared(self.processed_dir, manifest) and all(
            pixels_file(self.processed_dir, split).is_file() for split in SPLITS
        )

    def _full_paths(self, split: str, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows with each image's path inside its folder made the file's full path."""
        folder = self.sources.get(split, self.sources.get("all"))
        assert folder is not None
        frame = frame.copy()
        frame[IMAGE_COLUMN] = [str(folder / rel) for rel in frame[IMAGE_COLUMN].tolist()]
        return frame

    def _as_tensors(self, pixels: dict[str, np.ndarray]) -> dict[str, Any]:
        import torch

        assert self.encoder is not None
        out = {}
        for split in SPLITS:
            labels = self.encoder.labels(self.frames[split], f"the {split} split")
            out[split] = (torch.from_numpy(pixels[split]), torch.from_numpy(labels))
        return out
