"""The user's own files as data: a table, short texts, or class folders of images.

The names configs use (`_target_: mbegu.data.sources.TableData`, also recorded in every saved
model's config) and `build_data`, which anchors a data config's paths in the project. What the
kinds share is data.base; each kind is data.table, data.text or data.images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mbegu.data.base import FileData
from mbegu.data.images import ImageData
from mbegu.data.table import TableData
from mbegu.data.text import TextData
from mbegu.errors import MbeguError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["PATH_KEYS", "FileData", "ImageData", "TableData", "TextData", "build_data"]

PATH_KEYS = ("path", "train_path", "val_path", "test_path")


def build_data(cfg: DictConfig, root: Path) -> FileData:
    """Instantiate cfg.data with every path anchored in the project's data folder.

    Args:
        cfg: The composed config; its `data` node names the source class and its options.
        root: The project root the data paths are relative to.

    Returns:
        The data source, its files not yet read.

    Raises:
        MbeguError: A path outside data.dir, or a `_target_` that is not an mbegu data source.
    """
    from mbegu.security import inside, instantiate

    data = cfg.data
    data_dir = inside(root, data.get("dir") or "data", "data.dir")
    paths = {}
    for key in PATH_KEYS:
        if data.get(key) is not None:
            paths[key] = str(inside(root, data[key], f"data.{key}"))
            if data_dir not in Path(paths[key]).parents:
                raise MbeguError(
                    f"data.{key}={data[key]} lies outside data.dir ({data.get('dir')}): the "
                    f"pipeline tracks only that folder; move the file there (then `dvc add` it)"
                )
    data_source = instantiate(
        data,
        where="data",
        **paths,
        processed_dir=str(inside(root, data.processed_dir, "data.processed_dir")),
    )
    if not isinstance(data_source, FileData):
        raise MbeguError(f"data._target_={data.get('_target_')!r} is not an mbegu data source")
    return data_source
