"""The `prepare` stage: check the data, split it and fit the encoder (no training imports)."""

from __future__ import annotations

from omegaconf import DictConfig

from mbegu.project import project_root


def prepare(cfg: DictConfig) -> dict[str, int]:
    from mbegu.data.sources import build_data

    data = build_data(cfg, project_root())
    rows = data.prepare()
    shown = ", ".join(f"{k} {v}" for k, v in rows.items())
    print(f"prepared {data.processed_dir} ({shown})")
    return rows
