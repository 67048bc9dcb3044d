"""What an image model answers: decoded pixels in, `prediction` and `prob_CLASS` columns out.

`mbegu predict` (files on disk), the MLflow model (base64 bytes in a request's `image` column)
and evaluation (the test split) all come through here, and all decode through
features.image's ImageEncoder: the same rotation, mode, resize and train-split normalisation
the network trained on. Either engine runs the network: torch's SavedModel or ONNX Runtime's
OnnxModel, whose graph reads `pixels`, float32 [images, channels, size, size].
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

import numpy as np

from mbegu.errors import MbeguError
from mbegu.features.image import IMAGE_COLUMN
from mbegu.models.answers import PREDICTION, probability_column

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.features.image import ImageEncoder

# A request holds each image's bytes base64-encoded (JSON carries no bytes) in IMAGE_COLUMN,
# the column an image data set's rows hold their image in.
# The ONNX graph's input name for an image network.
PIXELS = "pixels"
# Images per forward pass: a batch of 256 RGB 224 x 224 images is about 150 MB of float32.
BATCH = 256


def is_image_model(saved: Any) -> bool:
    """Whether a loaded model (either engine) reads images: its encoder is an ImageEncoder."""
    return getattr(saved.encoder, "kind", None) == "image"


def image_probabilities(saved: Any, pixels: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Decoded images (uint8, N x C x H x W) in, one probability per class out: [N, classes].

    Args:
        saved: The loaded model: a SavedModel (torch) or an OnnxModel, with an ImageEncoder.
        pixels: The images as ImageEncoder.decode gives them, stacked.
        batch: Images per forward pass, which bounds the memory used.

    Returns:
        A float64 array of shape [N, classes].
    """
    encoder: ImageEncoder = saved.encoder
    parts = []
    for start in range(0, len(pixels), batch):
        x = encoder.normalise(pixels[start : start + batch])
        session = getattr(saved, "session", None)
        if session is not None:  # ONNX Runtime: no torch imported
            (probs,) = session.run(["probabilities"], {PIXELS: x})
        else:
            import torch

            with torch.no_grad():
                probs = torch.softmax(saved.net(torch.from_numpy(x)), dim=-1).numpy()
        parts.append(np.asarray(probs, dtype=np.float64))
    return np.concatenate(parts) if parts else np.zeros((0, len(encoder.classes)))


def answers(classes: list[str], probs: np.ndarray) -> pd.DataFrame:
    """`prediction` (a class name), then `prob_<class>` per class: mbegu.models.answers' names."""
    import pandas as pd

    out = pd.DataFrame(probs, columns=[probability_column(c) for c in classes])
    out.insert(0, PREDICTION, [classes[i] for i in probs.argmax(axis=1)])
    return out


def image_bytes(value: Any, name: str) -> bytes:
    """One request cell as the image's bytes: base64 text (a `data:` URL too) or raw bytes.

    Args:
        value: The cell: base64 text, or bytes (MLflow's `binary` columns arrive as bytes).
        name: How an error line names the cell (`row 3 of the request`).

    Returns:
        The image file's bytes.

    Raises:
        MbeguError: The cell is empty, not text or bytes, or not valid base64.
    """
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str) or not value.strip():
        raise MbeguError(
            f"{name}: no image in column {IMAGE_COLUMN!r} (got {type(value).__name__}): send "
            f"the image file's bytes as base64 text, e.g. $(base64 -w0 leaf.jpg)"
        )
    text = value.strip()
    if text.startswith("data:") and "," in text:  # a browser's data URL
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        # A path is refused like any other text: the served model reads no file of its own.
        raise MbeguError(
            f"{name}: column {IMAGE_COLUMN!r} is not valid base64 (a file path? the served model "
            f"reads no files): send the image file's bytes base64-encoded, e.g. "
            f"$(base64 -w0 leaf.jpg)"
        ) from None


def request_predictions(
    saved: Any, frame: pd.DataFrame, where: str = "the request"
) -> pd.DataFrame:
    """A request's rows (base64 images in column `image`) answered, a row per image.

    Every image is decoded before any is predicted: a bad one is named in one line and
    nothing is answered, as `mbegu predict` does with a bad file.

    Args:
        saved: The loaded image model (either engine).
        frame: The request: a DataFrame with an `image` column.
        where: What the rows are, as error lines name them.

    Returns:
        A DataFrame of `prediction` and `prob_<class>` columns, with the request's index.

    Raises:
        MbeguError: No `image` column, or a cell that is not a base64-encoded image.
    """
    if IMAGE_COLUMN not in frame.columns:
        columns = ", ".join(map(str, list(frame.columns)[:8])) or "none"
        raise MbeguError(
            f"{where} has no column {IMAGE_COLUMN!r} (its columns: {columns}): send each image "
            f"base64-encoded in a column named {IMAGE_COLUMN!r}"
        )
    encoder: ImageEncoder = saved.encoder
    shape = (0, encoder.channels, encoder.image_size, encoder.image_size)
    decoded = [
        encoder.decode(image_bytes(value, f"image {i + 1} of {where}"), f"image {i + 1} of {where}")
        for i, value in enumerate(frame[IMAGE_COLUMN].tolist())
    ]
    pixels = np.stack(decoded) if decoded else np.zeros(shape, dtype=np.uint8)
    out = answers(encoder.classes, image_probabilities(saved, pixels))
    out.index = frame.index
    return out


def jpeg_base64(pixels: np.ndarray, quality: int = 90) -> str:
    """A decoded image (uint8, C x H x W) as base64 JPEG text: an MLflow input example.

    Args:
        pixels: One image as ImageEncoder.decode gives it.
        quality: JPEG quality.

    Returns:
        The JPEG file's bytes, base64-encoded.
    """
    import io

    from PIL import Image

    array = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def example_request(encoder: ImageEncoder, rows: pd.DataFrame) -> pd.DataFrame:
    """The MLflow model's input example: one image of `rows` (paths) as a base64 JPEG.

    A small JPEG at the model's own size: the example a served model's page shows, and what
    MLflow checks the model answers before it logs it.

    Args:
        encoder: The model's encoder.
        rows: Rows of the data set (an `image` column of paths or bytes); a grey image is sent
            when they hold none.

    Returns:
        A one-row DataFrame with an `image` column of base64 text.
    """
    import pandas as pd

    if IMAGE_COLUMN in rows.columns and len(rows):
        pixels = encoder.pixels(rows.head(1), "the input example")[0]
    else:
        shape = (encoder.channels, encoder.image_size, encoder.image_size)
        pixels = np.full(shape, 128, dtype=np.uint8)
    return pd.DataFrame({IMAGE_COLUMN: [jpeg_base64(pixels)]})
