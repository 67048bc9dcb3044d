"""Locating the project so that outputs and the tracking store never depend on the cwd."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    from omegaconf import DictConfig

MARKER = "dvc.yaml"


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: cwd) that holds dvc.yaml and conf/.

    Outputs are resolved against it, so `mbegu train` from a subfolder writes where
    `dvc repro` does. DVC's queued experiments run in a temporary copy that holds both.
    """
    env = os.environ.get("MBEGU_ROOT")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file() and (folder / "conf").is_dir():
            return folder
    raise MbeguError(
        f"no mbegu project at or above {here}: run this inside the project (the folder with "
        f"{MARKER} and conf/), or set MBEGU_ROOT"
    )


def store_root(start: Path | None = None) -> Path:
    """Where the local MLflow store lives: the user's repository, even inside DVC's temp copies.

    `dvc exp run --queue` runs stages in a copy under .dvc/tmp/exps and sets DVC_ROOT to the
    parent repository, so every run lands in one store.
    """
    dvc_root = os.environ.get("DVC_ROOT")
    if dvc_root:
        return Path(dvc_root).resolve()
    return project_root(start)


def resolve_paths(cfg: DictConfig, root: Path) -> dict[str, Path]:
    """cfg.paths anchored at the project root; none may point outside it."""
    from mbegu.security import inside

    paths = {key: inside(root, value, f"paths.{key}") for key, value in cfg.paths.items()}
    paths["run_file"] = paths["model_dir"].parent / "run.json"
    return paths
