"""The `prepare` stage: check the data, split it and fit the encoder (no training imports)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from mbegu.project import project_root


def prepare(cfg: DictConfig) -> dict[str, int]:
    """The `prepare` stage: write the split and the encoder, all of the stage's outputs or none.

    Args:
        cfg: The config read from params.yaml.

    Returns:
        Each split's number of rows.
    """
    from mbegu.data.sources import build_data
    from mbegu.staging import staged_outputs

    root = project_root()
    data = build_data(cfg, root)
    with staged_outputs(root, "prepare") as stage:
        rows = data.prepare(stage.path(data.processed_dir))
    shown = ", ".join(f"{k} {v}" for k, v in rows.items())
    where = Path(data.processed_dir)
    if where.is_absolute() and root in where.parents:
        where = where.relative_to(root)
    print(f"prepared {where.as_posix()}/ ({shown})")
    return rows
