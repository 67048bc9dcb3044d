"""What identifies a data set as a run saw it: its source files' md5 and the options.

The `prepare` stage's manifest compares both before reusing a split; runs record the digest
as the data's version. A mixin of data.base.FileData, kept apart from reading and splitting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mbegu.data.files import file_md5, require_file


class DataIdentity:
    """The options and source files of a FileData, and their md5: what makes a split reusable."""

    kind: str
    target: str
    drop: list[str]
    classes: list[str] | None
    missing: str
    label_normalize: bool
    sep: str | None
    quoting: str | None
    val_fraction: float
    test_fraction: float
    seed: int
    sources: dict[str, Path]

    def options(self) -> dict[str, Any]:
        """The config that shapes the prepared data (the manifest compares it).

        Returns:
            Each option's name and value.
        """
        return {
            "kind": self.kind,
            "target": self.target,
            "drop": self.drop,
            "classes": self.classes,
            "missing": self.missing,
            "label_normalize": self.label_normalize,
            "sep": self.sep,
            "quoting": self.quoting,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
        }

    def manifest(self) -> dict[str, Any]:
        """What the prepared data was made from: the source files' md5 and the options.

        `prepare` writes it beside the split; the split is reused only while it still matches.

        Returns:
            {"sources": {key: md5}, "options": options()}.
        """
        sources = {key: file_md5(require_file(path)) for key, path in self.sources.items()}
        return {"sources": sources, "options": self.options()}

    def digest(self) -> str:
        """One version of the data as a run saw it: the md5 of its source files.

        Returns:
            The md5 of the one source file, else an md5 of each split file's md5.
        """
        import hashlib

        sources = self.manifest()["sources"]
        if len(sources) == 1:
            return next(iter(sources.values()))
        return hashlib.md5(" ".join(f"{k}={v}" for k, v in sources.items()).encode()).hexdigest()

    def source_paths(self) -> list[Path]:
        """The files the data is read from: one, or the three given splits.

        Returns:
            The source files' paths.
        """
        return list(self.sources.values())
