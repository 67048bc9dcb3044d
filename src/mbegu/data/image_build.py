"""Building an image data set: list the class folders, decode every image once, split, fit.

The images' counterpart of data.build. A file that cannot be used (empty, corrupt, not an
image, over the pixel limit) is one line naming it, or with `data.skip_bad_images=true` left
out with one line counting them. Runs for the `prepare` stage, and in memory for an ad hoc run
whose pixel cache is not prepared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mbegu.data.folders import list_images
from mbegu.data.pixels import decode_all, has_colour, to_grey
from mbegu.data.split import SPLITS, stratified_split
from mbegu.errors import MbeguError, warn
from mbegu.features.image import IMAGE_COLUMN, LABEL_COLUMN, ImageEncoder
from mbegu.features.labels import sort_classes

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.data.images import ImageData


@dataclass
class Built:
    """Each split's rows (image path inside its folder, label) and pixels, and the encoder."""

    frames: dict[str, pd.DataFrame]
    pixels: dict[str, np.ndarray]
    encoder: ImageEncoder


def build_images(data: ImageData) -> Built:
    """List, decode, check, split and fit.

    Raises:
        MbeguError: A bad image (unless skipped), an empty class folder, a class too small to
            split, a val/test class that training lacks, or a single class.
    """
    import pandas as pd

    from mbegu.threads import usable_cores

    listed = {key: list_images(folder, _option(key)) for key, folder in data.sources.items()}
    first = "all" if "all" in listed else "train"
    classes = data.classes or sort_classes({label for _, label in listed[first]})
    decode_channels = data.channels or 3
    rows: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}
    bad: list[str] = []
    for key, found in listed.items():
        folder = data.sources[key]
        codes = _codes([label for _, label in found], classes, folder, key)
        paths = [folder / rel for rel, _ in found]
        decoded, failed = decode_all(paths, data.image_size, decode_channels, usable_cores())
        bad += [line for _, line in failed]
        keep = np.ones(len(found), dtype=bool)
        keep[[i for i, _ in failed]] = False
        kept = [rel for (rel, _), k in zip(found, keep, strict=True) if k]
        rows[key] = (kept, decoded[keep], codes[keep])
    _refuse_or_skip(bad, data.skip_bad_images)
    for key, (_, _, codes) in rows.items():
        _every_class_left(codes, classes, data.sources[key], key, bool(bad))
    if "all" in rows:
        rows = _split(rows["all"], classes, data)
    for split in SPLITS:
        if len(rows[split][2]) == 0:
            raise MbeguError(
                f"the {split} split has no images: add images, or raise data.val_fraction / "
                f"data.test_fraction"
            )
    if len(classes) < 2:
        raise MbeguError(f"one class folder ({classes[0]}): a classifier needs two or more")
    pixels = {split: rows[split][1] for split in SPLITS}
    if data.channels is None and not has_colour(pixels["train"]):
        pixels = {s: to_grey(p) for s, p in pixels.items()}  # as predict's "L" decodes them
    frames = {
        split: pd.DataFrame(
            {IMAGE_COLUMN: rows[split][0], LABEL_COLUMN: [classes[c] for c in rows[split][2]]}
        )
        for split in SPLITS
    }
    return Built(frames, pixels, ImageEncoder.fit(pixels["train"], classes))


def _option(key: str) -> str:
    return "data.path" if key == "all" else f"data.{key}_path"


def _codes(labels: list[str], classes: list[str], folder: Path, key: str) -> np.ndarray:
    """Each image's class index; a class folder outside data.classes or training is refused."""
    index = {name: k for k, name in enumerate(classes)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        why = "training has no such class folder" if key in ("val", "test") else "data.classes"
        raise MbeguError(
            f"{folder / unknown[0]}: the class {unknown[0]!r} is not one of the classes "
            f"{classes[:6]} ({why}): remove the folder or add the class"
        )
    return np.array([index[label] for label in labels], dtype=np.int64)


def _every_class_left(
    codes: np.ndarray, classes: list[str], folder: Path, key: str, skipped: bool
) -> None:
    """Training needs every class; a class whose images were all bad is named."""
    if key not in ("all", "train"):
        return
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() == 0:
        name = classes[int(counts.argmin())]
        why = "all its images are bad" if skipped else "it has no images"
        raise MbeguError(f"{folder / name}: {why}: add images of class {name!r}, or remove it")


def _refuse_or_skip(bad: list[str], skip: bool) -> None:
    """One line naming the first bad image, or with `skip` one line counting them."""
    if not bad:
        return
    if not skip:
        more = f" ({len(bad)} bad images in all; the others: {_names(bad[1:])})" if bad[1:] else ""
        raise MbeguError(f"{bad[0]}{more}; or set data.skip_bad_images=true to leave them out")
    warn(f"skipped {len(bad)} bad image(s) (data.skip_bad_images=true): {_names(bad)}")


def _names(bad: list[str], shown: int = 3) -> str:
    """The files of up to `shown` bad-image lines (each `FILE: why`), and how many more."""
    names = ", ".join(line.split(": ", 1)[0] for line in bad[:shown])
    return names + (f" and {len(bad) - shown} more" if len(bad) > shown else "")


def _split(
    rows: tuple[list[str], np.ndarray, np.ndarray], classes: list[str], data: ImageData
) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
    """One folder's images as train, val and test, stratified by class and seeded."""
    paths, pixels, codes = rows
    counts = np.bincount(codes, minlength=len(classes))
    if counts.min() < 3:
        name = classes[int(counts.argmin())]
        raise MbeguError(
            f"{data.sources['all'] / name}: class {name!r} has {int(counts.min())} images, too "
            f"few to split into train/val/test: add images, or give data.train_path/val_path/"
            f"test_path folders"
        )
    indices = stratified_split(codes, data.val_fraction, data.test_fraction, data.seed)
    return {
        split: ([paths[i] for i in chosen], pixels[chosen], codes[chosen])
        for split, chosen in indices.items()
    }
