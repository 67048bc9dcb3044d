"""The `prepare` stage: validate the raw CSV and write the split (no Lightning import)."""

from __future__ import annotations

from omegaconf import DictConfig

from mbegu.data.split import prepare_split
from mbegu.project import project_root
from mbegu.security import inside


def prepare(cfg: DictConfig) -> dict[str, int]:
    root, data = project_root(), cfg.data
    out_dir = inside(root, data.processed_dir, "data.processed_dir")
    rows = prepare_split(
        inside(root, data.raw_path, "data.raw_path"),
        out_dir,
        data.num_features,
        data.num_classes,
        data.val_fraction,
        data.test_fraction,
        data.seed,
    )
    print(f"prepared {out_dir} ({', '.join(f'{k} {v}' for k, v in rows.items())})")
    return rows
