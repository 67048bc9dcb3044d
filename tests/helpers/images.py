"""Folders of photos as users bring them, drawn by the tests: one subfolder per class, JPEG, PNG
and WebP mixed, sizes and channel modes mixed, one photo turned by its EXIF tag as phones do."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("circle", "square", "triangle")
MODES = ("RGB", "L", "RGBA", "P")
ROTATED = "circle/rotated.jpg"  # stored turned on its side, EXIF orientation 6 turns it back


def make_image_folders(root: Path, per_class: int = 20, size: int = 32, seed: int = 0) -> Path:
    """Write `root/<class>/*.{jpg,png,webp}`: a circle, a square or a triangle of a random colour
    and place on a random background, so a small network can learn the classes.

    Modes cycle through RGB, L, RGBA (transparent background) and P; RGB and L alternate
    JPEG and PNG, and every eighth image is a WebP; sizes vary around `size` and are not all
    square. `ROTATED` carries an EXIF orientation tag. Returns `root`.
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label in CLASSES:
        (root / label).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            width = size + int(rng.integers(0, size // 2 + 1))
            height = size + int(rng.integers(0, size // 4 + 1))
            image = draw_shape(label, width, height, rng)
            mode = MODES[index % len(MODES)]
            suffix = ".jpg" if mode in ("RGB", "L") and index % 8 < 4 else ".png"
            suffix = ".webp" if index % 8 == 4 else suffix  # an RGB photo as WebP
            converted = _convert(image, mode)
            converted.save(root / label / f"{label}-{index:03d}{suffix}")
    rotated = _convert(draw_shape("circle", size + size // 2, size, rng), "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; the viewer turns it 90 degrees back
    assert isinstance(rotated, Image.Image)
    rotated.transpose(Image.Transpose.ROTATE_90).save(root / ROTATED, exif=exif.tobytes())
    return root


def draw_shape(label: str, width: int, height: int, rng: np.random.Generator) -> object:
    """One RGBA picture: a filled shape on a background that is sometimes transparent."""
    from PIL import Image, ImageDraw

    background = (*(int(v) for v in rng.integers(0, 256, 3)), int(rng.choice([0, 255])))
    image = Image.new("RGBA", (width, height), background)
    draw = ImageDraw.Draw(image)
    side = min(width, height)
    radius = side * float(rng.uniform(0.25, 0.4))
    cx = float(rng.uniform(radius, width - radius))
    cy = float(rng.uniform(radius, height - radius))
    seen = background[:3] if background[3] else (255, 255, 255)  # transparent: laid on white
    colour = _far_colour(seen, rng)
    if label == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    elif label == "square":
        draw.rectangle((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    else:
        draw.polygon(
            [(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)],
            fill=colour,
        )
    return image


def _far_colour(background: tuple[int, ...], rng: np.random.Generator) -> tuple[int, ...]:
    """A fill that stands out from the background, in grayscale too."""
    while True:
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if abs(sum(colour) - sum(background)) > 180:
            return (*colour, 255)


def _convert(image: object, mode: str) -> object:
    from PIL import Image

    assert isinstance(image, Image.Image)
    if mode == "RGBA":
        return image
    flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
    flat.alpha_composite(image)
    if mode == "P":
        return flat.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    return flat.convert(mode)
