"""`mbegu predict` for an image model: one image, a folder of them, or a table of their paths.

The output has a row per image: `path` (as the input names it), `prediction` and a
`prob_CLASS` column per class. Images are decoded, predicted and written a chunk at a time,
so memory stays bounded on a folder of a million photos; a file that is not a readable image
stops the run with one line naming it, and nothing is written (the output takes its name only
once every image is answered). Paths listed in a CSV or Parquet file are read relative to that
file's folder and must lie inside the project: a shared list cannot make mbegu read
~/.ssh or /etc.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mbegu.errors import MbeguError
from mbegu.features.image import EXTENSIONS

if TYPE_CHECKING:
    from mbegu.inference.predict import LoadedModel

# Images decoded and predicted at a time: 256 RGB images of 224 x 224 are ~40 MB as uint8.
CHUNK_IMAGES = 256
# The column of a CSV or Parquet file that holds the image paths, the first found of these.
PATH_COLUMNS = ("path", "image", "file", "filename")
TABLES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def image_sources(input_path: Path, root: Path) -> list[tuple[str, Path]]:
    """Each image to predict: (its name in the output, its file).

    Args:
        input_path: An image file, a folder (searched recursively for EXTENSIONS, hidden
            files such as macOS's `._IMG.jpg` left out, in sorted order), or a CSV/TSV/Parquet
            file with a column of image paths (PATH_COLUMNS).
        root: The project root, which a table's paths must not leave.

    Returns:
        The images, in the input's order.

    Raises:
        MbeguError: The input is missing, holds no image, or lists a path outside the project.
    """
    if input_path.is_dir():  # as training lists a class folder: hidden files left out
        from mbegu.data.folders import image_files

        found = [p for p in image_files(input_path) if p.suffix.lower() in EXTENSIONS]
        if not found:
            raise MbeguError(
                f"{input_path} holds no image ({', '.join(EXTENSIONS)}), in any subfolder: "
                f"give a folder of images, an image, or a CSV with a `path` column"
            )
        return [(str(p), p) for p in found]
    if not input_path.is_file():
        raise MbeguError(
            f"input {input_path} not found: give an image, a folder of images, or a CSV of paths"
        )
    suffix = input_path.suffix.lower()
    if suffix in EXTENSIONS:
        return [(str(input_path), input_path)]
    if suffix in TABLES:
        return listed_images(input_path, root)
    raise MbeguError(
        f"{input_path} is neither an image ({', '.join(EXTENSIONS)}) nor a CSV/Parquet file of "
        f"image paths: give one of those, or a folder of images"
    )


def listed_images(table: Path, root: Path) -> list[tuple[str, Path]]:
    """The image paths a CSV, TSV or Parquet file lists, each checked to lie in the project.

    Args:
        table: The file; its paths are relative to its own folder (or absolute, inside the
            project).
        root: The project root.

    Returns:
        (the path as the file spells it, the file to read), a pair per row.

    Raises:
        MbeguError: No path column, an empty cell, or a path leading outside the project.
    """
    from mbegu.inference.rows import read_rows
    from mbegu.security import inside

    base = Path(os.path.abspath(table)).parent
    top = os.path.abspath(root)
    found: list[tuple[str, Path]] = []
    for chunk in read_rows(table):
        column = _path_column(table, list(chunk.columns))
        for row, value in zip(chunk.index, chunk[column].tolist(), strict=True):
            where = f"{table} row {int(row) + 2} ({column})"  # the header is row 1
            if value is None or not str(value).strip():
                raise MbeguError(f"{where} is empty: give each row an image path")
            written = str(value).strip()
            relative = os.path.relpath(os.path.normpath(base / written), top)
            found.append((written, inside(Path(top), relative, where)))
    return found


def _path_column(table: Path, columns: list[str]) -> str:
    """The column that holds the paths: the first of PATH_COLUMNS, or a file's only column."""
    for name in PATH_COLUMNS:
        if name in columns:
            return name
    if len(columns) == 1:
        return columns[0]
    raise MbeguError(
        f"{table} has no image path column ({', '.join(PATH_COLUMNS)}); its columns are "
        f"{', '.join(map(str, columns[:8]))}: name the column of paths `path`"
    )


def chunks(items: list[tuple[str, Path]], size: int) -> Iterator[list[tuple[str, Path]]]:
    """`items`, `size` at a time."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict_images(
    model: LoadedModel, input_path: Path, output: Path, root: Path, chunk: int = CHUNK_IMAGES
) -> int:
    """Write each image's prediction and class probabilities to `output` (CSV or Parquet).

    Args:
        model: An image model (either engine; any of the three ways to name it).
        input_path: An image, a folder of images, or a CSV/Parquet file of image paths.
        output: The file to write (check_output vets it first); .parquet: Parquet, else CSV.
        root: The project root, which listed paths must not leave.
        chunk: Images decoded and predicted at a time.

    Returns:
        The number of images answered.

    Raises:
        MbeguError: No image found, a path outside the project, or a file that is not a
            readable image (named; nothing is written).
    """
    import numpy as np

    from mbegu.features.image import ImageEncoder
    from mbegu.inference.batch import PARQUET, _Writer
    from mbegu.io import atomic_path
    from mbegu.models.image_answers import answers, image_probabilities

    sources = image_sources(input_path, root)
    saved = model.saved
    encoder = saved.encoder
    if not isinstance(encoder, ImageEncoder):
        raise MbeguError(f"{model.source} is not an image model: predict a CSV of rows with it")
    with atomic_path(output) as tmp:
        writer = _Writer(tmp, output.suffix.lower() in PARQUET)
        try:
            for part in chunks(sources, chunk):
                pixels = np.stack([encoder.decode(path, name) for name, path in part])
                out = answers(encoder.classes, image_probabilities(saved, pixels))
                out.insert(0, "path", [name for name, _ in part])
                writer.write(out)
        finally:
            writer.close()
    return len(sources)
