"""An image model's extra reports: the misclassified test images, and a baseline on pixels.

A confusion matrix says which classes are confused; the images themselves say why (a blurred
leaf, a label that is wrong, a background the network learnt instead of the object). The
baseline is what a linear model makes of the raw pixels, downsampled to 16 x 16 grayscale:
a network that does not beat it has learnt little that is visual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# The pixel baseline's input: each image as 16 x 16 grayscale, 256 numbers in [0, 1].
PIXEL_SIDE = 16
# The grid's file, in the evaluate stage's artifacts/evaluation/ and the run's plots/.
MISCLASSIFIED = "misclassified.png"
# At most this many misclassified images in the grid (the most confident mistakes first).
GRID_LIMIT = 36


def pixel_features(pixels: np.ndarray, side: int = PIXEL_SIDE) -> np.ndarray:
    """Decoded images (uint8, N x C x H x W) as N x side*side grayscale values in [0, 1].

    Args:
        pixels: The images as ImageEncoder.decode gives them, stacked.
        side: The side of the square each is shrunk to (area averaging).

    Returns:
        A float32 array of shape [N, side * side].
    """
    from PIL import Image

    out = np.zeros((len(pixels), side * side), dtype=np.float32)
    for i, image in enumerate(pixels):
        if image.shape[0] == 3:  # ITU-R 601 luma, as Pillow's convert("L")
            gray = image[0] * 0.299 + image[1] * 0.587 + image[2] * 0.114
        else:
            gray = image[0].astype(np.float64)
        small = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8)).resize(
            (side, side), Image.Resampling.BOX
        )
        out[i] = np.asarray(small, dtype=np.float32).reshape(-1) / 255.0
    return out


def score_image_baselines(
    names: Sequence[str],
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    classes: int,
) -> dict[str, dict[str, float]]:
    """The majority class and logistic regression on 16 x 16 grayscale pixels, scored on test.

    Args:
        names: Baselines from evaluate.baselines; those an image can have are fitted (hgb,
            a table's, is skipped).
        train: The train split's (decoded images, class indices).
        test: The test split's (decoded images, class indices).
        classes: How many classes the model has.

    Returns:
        {baseline: {acc, f1_macro, f1_weighted}}, as evaluation.baselines gives a table's.
    """
    from mbegu.evaluation.baselines import IMAGE_BASELINES, fit_and_score

    chosen = [n for n in IMAGE_BASELINES if n in names]
    if not chosen:
        return {}
    return fit_and_score(
        chosen,
        (pixel_features(train[0]), train[1]),
        (pixel_features(test[0]), test[1]),
        classes,
    )


def misclassified_grid(
    path: Path,
    pixels: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    limit: int = GRID_LIMIT,
) -> int:
    """Draw the misclassified test images, most confident mistakes first, into a PNG.

    Each is titled `actual -> predicted (probability)`. With no mistake the PNG says so, so
    the file exists after every evaluation.

    Args:
        path: The PNG to write (written whole, then renamed into place).
        pixels: The test images as decoded (uint8, N x C x H x W).
        labels: Their class indices.
        probs: The model's probabilities, [N, classes].
        classes: The class names.
        limit: At most this many images.

    Returns:
        How many images were misclassified (all of them, not only those drawn).
    """
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    warnings.filterwarnings("ignore", "Glyph .* missing from")
    import matplotlib.pyplot as plt

    preds = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    wrong = np.flatnonzero(preds != labels)
    order = wrong[np.argsort(-probs[wrong, preds[wrong]], kind="stable")][:limit]
    columns = max(1, math.ceil(math.sqrt(len(order))))
    rows = max(1, math.ceil(len(order) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.8 * columns, 1.9 * rows + 0.4), dpi=100)
    cells = np.atleast_1d(axes).reshape(-1)
    for ax in cells:
        ax.axis("off")
    for ax, i in zip(cells, order, strict=False):
        image = pixels[i]
        shown = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        ax.imshow(shown, cmap="gray" if image.shape[0] == 1 else None, vmin=0, vmax=255)
        title = f"{classes[labels[i]]} -> {classes[preds[i]]}\n({probs[i, preds[i]]:.2f})"
        ax.set_title(title, fontsize=7)
    if not len(order):
        cells[0].text(0.5, 0.5, "no test image\nmisclassified", ha="center", va="center")
    shown_of = f", {len(order)} shown" if len(wrong) > len(order) else ""
    fig.suptitle(f"Misclassified test images: {len(wrong)} of {len(labels)}{shown_of}", fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
    return len(wrong)
