"""Which mbegu release a project was copied from, and whether a newer one is tagged.

copier records the release in the project's `.copier-answers.yml` (`_commit`: the tag, or
`<tag>-<n>-g<sha>` for a commit after it; `_src_path`: where the template came from). Newer
releases are looked up only where that costs no network: a template on this machine.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from mbegu.errors import MbeguError

ANSWERS = ".copier-answers.yml"
TEMPLATE_MARKER = "copier.yml"
REMOTE = re.compile(r"^([a-z][a-z0-9+.-]*://|gh:|gl:|git@)")
TAG = re.compile(r"^v?\d+(\.\d+)*$")


@dataclass
class Origin:
    """Where a project came from: the release (`commit`) and the template's source."""

    commit: str
    src_path: str


def read_origin(root: Path) -> Origin | None:
    """The project's `.copier-answers.yml`, or None when it has none.

    None for mbegu itself, or a project cloned before copier.
    """
    path = root / ANSWERS
    if not path.is_file():
        return None
    try:
        answers = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        raise MbeguError(f"{ANSWERS} is not valid YAML: copier writes it, restore it") from None
    if not isinstance(answers, dict) or not answers.get("_src_path"):
        raise MbeguError(f"{ANSWERS} names no _src_path: copier writes it, restore it")
    return Origin(str(answers.get("_commit") or "unknown"), str(answers["_src_path"]))


def is_template(root: Path) -> bool:
    """True in mbegu's own repository (the template), not in a project made from it."""
    return (root / TEMPLATE_MARKER).is_file() and not (root / ANSWERS).is_file()


def local_source(origin: Origin, root: Path) -> Path | None:
    """The template's folder when `_src_path` is one on this machine, else None.

    Relative paths are the project's; a URL needs the network, so None.
    """
    if REMOTE.match(origin.src_path):
        return None
    path = Path(origin.src_path).expanduser()
    for candidate in (path, root / path):
        if candidate.is_absolute() and candidate.is_dir():
            return candidate
    return None


def release_of(commit: str) -> str:
    """The tag a `_commit` stands on: `v1.2-3-gabc1234` (3 commits after v1.2) gives v1.2."""
    return re.sub(r"-\d+-g[0-9a-f]+$", "", commit)


def newest_release(source: Path) -> str | None:
    """The highest release tag (v1, v0.2.0, ...) in the template's git repository."""
    from packaging.version import InvalidVersion, Version

    try:
        done = subprocess.run(
            ["git", "tag", "--list"], cwd=source, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    tags = []
    for tag in done.stdout.split():
        if TAG.match(tag):
            try:
                tags.append((Version(tag), tag))
            except InvalidVersion:
                continue
    return max(tags)[1] if tags else None


def is_newer(tag: str, than: str) -> bool:
    """Whether release `tag` comes after `than`, by version order (a tag that is no version: no)."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(tag) > Version(release_of(than))
    except InvalidVersion:
        return tag != release_of(than)
