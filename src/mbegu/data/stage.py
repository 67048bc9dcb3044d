"""The `prepare` stage: validate the raw CSV and write the split."""

from __future__ import annotations

from omegaconf import DictConfig

from mbegu.project import project_root


def prepare(cfg: DictConfig) -> None:
    from mbegu.data.datamodule import build_datamodule

    datamodule = build_datamodule(cfg, project_root())
    datamodule.prepare_data()
    counts = ", ".join(f"{k} {v}" for k, v in _rows(datamodule).items())
    print(f"prepared {datamodule.processed_dir} ({counts})")


def _rows(datamodule) -> dict[str, int]:
    from mbegu.data.split import read_manifest

    return (read_manifest(datamodule.processed_dir) or {}).get("rows", {})
