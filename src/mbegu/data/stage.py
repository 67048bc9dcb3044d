"""The `prepare` stage: check the data, split it and fit the encoder (no training imports)."""

from __future__ import annotations

from omegaconf import DictConfig

from mbegu.project import project_root


def prepare(cfg: DictConfig) -> dict[str, int]:
    from mbegu.data.sources import build_data
    from mbegu.staging import staged_outputs

    root = project_root()
    data = build_data(cfg, root)
    with staged_outputs(root, "prepare") as stage:
        rows = data.prepare(stage.path(data.processed_dir))
    shown = ", ".join(f"{k} {v}" for k, v in rows.items())
    print(f"prepared {data.processed_dir} ({shown})")
    return rows
