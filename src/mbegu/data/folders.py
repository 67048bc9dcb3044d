"""A folder of class folders as rows: each image file's path (inside the folder) and its class.

`data=images` reads photos as people sort them: `leaves/healthy/*.jpg`, `leaves/rust/*.jpg`.
A class is a subfolder's name (Unicode NFC, as macOS spells names NFD); its images are every
file below it, at any depth, but hidden ones (`.DS_Store`). Nothing is opened here: what a
file holds is for data.pixels to decode. The folder's identity (`listing_md5`) comes from its
files' names and sizes, so a training run tells whether the prepared pixels still match without
reading a single photo; DVC's md5 of the folder reruns `prepare` on any change of content.
"""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path

from mbegu.errors import MbeguError, warn


def class_folders(root: Path, where: str) -> dict[str, Path]:
    """The class folders of `root`, by class name, sorted.

    Args:
        root: A folder of class folders.
        where: The option that named it, e.g. data.path, as error lines say.

    Returns:
        {class name: its folder}.

    Raises:
        MbeguError: `root` is missing, a file, or holds no class folder.
    """
    if not root.exists():
        raise MbeguError(f"{where}={root}: no such folder: check the path")
    if not root.is_dir():
        raise MbeguError(
            f"{where}={root} is a file: data=images reads a folder with one subfolder per "
            f"class (e.g. data/leaves/healthy/*.jpg); for a table, use data=table"
        )
    found: dict[str, Path] = {}
    loose = 0
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            name = unicodedata.normalize("NFC", entry.name)
            if name in found:
                raise MbeguError(
                    f"{entry} and {found[name]} name the same class {name!r} (two Unicode "
                    f"spellings): merge them"
                )
            found[name] = entry
        else:
            loose += 1
    if not found:
        raise MbeguError(
            f"{where}={root} has no class folders: put each class's images in a subfolder "
            f"named for the class (e.g. {root}/healthy/1.jpg)"
        )
    if loose:
        warn(f"{root}: {loose} file(s) outside the class folders are left out")
    return dict(sorted(found.items()))


def image_files(folder: Path) -> list[Path]:
    """Every file below `folder` but hidden ones, in a fixed order (the path's)."""
    files = [
        path
        for path in folder.rglob("*")
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts)
    ]
    return sorted(files, key=lambda path: path.relative_to(folder).as_posix())


def list_images(root: Path, where: str) -> list[tuple[str, str]]:
    """(path inside `root`, class) of every file in `root`'s class folders.

    Raises:
        MbeguError: No class folder, or an empty one (named).
    """
    rows = []
    for name, folder in class_folders(root, where).items():
        files = image_files(folder)
        if not files:
            raise MbeguError(
                f"{folder}: the class folder {name!r} is empty: add its images, or remove it"
            )
        rows += [(path.relative_to(root).as_posix(), name) for path in files]
    return rows


def listing_md5(root: Path) -> str:
    """The md5 of every file's path inside `root` and size: the folder's identity, read by stat.

    Raises:
        MbeguError: `root` is not a folder.
    """
    if not root.is_dir():
        raise MbeguError(f"{root}: no such folder of class folders: check data.path")
    digest = hashlib.md5()
    for path in image_files(root):
        line = f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\n"
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
