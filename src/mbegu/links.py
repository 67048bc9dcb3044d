"""Where a path leads, not only what it says: symlinks are followed before a path is trusted.

A path's text can stay inside the project while a symlink in it leads anywhere
(`data/passwd.csv -> /etc/passwd`): reading it would show another file's content in an error
or a model, writing through it would put outputs where nobody looks. A path is inside the
project when it resolves there, or into DVC's cache (where `dvc pull` links data files when
cache.type is symlink; `.dvc/cache` by default, inside the project, or a shared cache.dir).
"""

from __future__ import annotations

import configparser
from pathlib import Path


def leads_inside(root: Path, path: Path) -> bool:
    """Whether `path` (symlinks followed) lies in the project `root` or in its DVC cache."""
    target = path.resolve()
    for folder in (root.resolve(), *dvc_cache_dirs(root)):
        if target == folder or folder in target.parents:
            return True
    return False


def dvc_cache_dirs(root: Path) -> list[Path]:
    """DVC's cache folders configured outside the project.

    `cache.dir` in .dvc/config and .dvc/config.local (the local one wins, as in DVC), relative to
    .dvc/ when not absolute.
    """
    found: list[Path] = []
    for name in ("config.local", "config"):
        config = root / ".dvc" / name
        if not config.is_file():
            continue
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        try:
            parser.read(config, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue  # DVC itself will say what is wrong with it
        folder = parser.get("cache", "dir", fallback=None)
        if folder:
            found.append((root / ".dvc" / Path(folder).expanduser()).resolve())
            break
    return found
