"""git's answers about the project: its commit, what changed, a file as committed."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(root: Path, *args: str, timeout: float = 30) -> str | None:
    """`git ARGS`'s output in `root`, or None where git is missing, fails or is not a checkout.

    Lineage and repro checks go on without git (a copy before its first commit, an archive):
    they record or compare less, and say so.
    """
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=timeout, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout
