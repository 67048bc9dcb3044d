"""A pipeline stage's outputs, all or nothing.

Each output is written to a twin path in a staging folder (under the project's `.mbegu/`, so on
the same filesystem and never in git) and moved into place only when the whole stage has
succeeded. A stage that fails leaves every output as it was: DVC records a stage's outputs only
when its command succeeds, so half a stage's outputs would otherwise sit beside a dvc.lock that
describes the old ones. DVC has no such staging of its own: a command writes where it likes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Staging:
    """Twin paths for a stage's outputs, and the move that puts them in place."""

    def __init__(self, root: Path, folder: Path) -> None:
        self.root, self.folder = root, folder
        self._outputs: list[Path] = []  # each replaced whole: a file or a folder
        self._folders: list[Path] = []  # folders whose files are each an output

    def _relative(self, final: Path) -> Path:
        # Not resolved: an output linked into DVC's cache is replaced, not the cache's file.
        return Path(os.path.abspath(final)).relative_to(self.root)

    def _twin(self, final: Path) -> Path:
        return self.folder / "new" / self._relative(final)

    def path(self, final: Path) -> Path:
        """Where to write `final` (a file, or a folder that replaces the old one whole)."""
        self._outputs.append(final)
        return self._twin(final)

    def files_of(self, final: Path) -> Path:
        """A folder to write some of `final`'s files into.

        Each replaces its namesake; the folder's other files stay (reports/ holds several stages'
        outputs).
        """
        self._folders.append(final)
        twin = self._twin(final)
        twin.mkdir(parents=True, exist_ok=True)
        return twin

    def written(self) -> list[Path]:
        """The outputs the stage wrote, as final paths."""
        found = [p for p in self._outputs if self._twin(p).exists()]
        for folder in self._folders:
            twin = self._twin(folder)
            found += [folder / f.relative_to(twin) for f in twin.rglob("*") if f.is_file()]
        return found

    def commit(self) -> None:
        """Move the old outputs aside, the new ones in; on any failure, put the old back."""
        aside = self.folder / "old"
        moved: list[tuple[Path, Path]] = []  # (from, to), undone in reverse order
        try:
            for final in self.written():
                previous = aside / self._relative(final)
                if final.exists() or final.is_symlink():
                    previous.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(final, previous)
                    moved.append((final, previous))
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._twin(final), final)
                moved.append((self._twin(final), final))
        except BaseException:
            for source, target in reversed(moved):
                os.replace(target, source)
            raise


@contextmanager
def staged_outputs(root: Path, stage: str) -> Iterator[Staging]:
    """A Staging for `stage`; its outputs move into place when the block finishes.

    The staging folder (new outputs of a failed stage, old ones of a finished one) goes.
    """
    base = root / ".mbegu"
    base.mkdir(exist_ok=True)
    ignore = base / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # never in git, whatever the project's .gitignore says
    folder = Path(tempfile.mkdtemp(dir=base, prefix=f"staging-{stage}-"))
    try:
        staging = Staging(Path(os.path.abspath(root)), folder)
        yield staging
        staging.commit()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
