"""The LightningDataModule: a data source's splits as batches (data.loading, data.augment)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightning.pytorch as pl
from torch.utils.data import DataLoader, Dataset

from mbegu.data.loading import EpochSeededSampler, as_batch
from mbegu.data.sources import FileData, build_data
from mbegu.data.split import SPLITS

if TYPE_CHECKING:
    from omegaconf import DictConfig


class DataModule(pl.LightningDataModule):
    """Batches of `data` (a table, text or image source): shuffled by (seed, epoch) for training.

    `data.num_workers` (images) loads batches in that many worker processes.
    """

    def __init__(self, data: FileData) -> None:
        super().__init__()
        self.data = data
        self.datasets: dict[str, Dataset] = {}

    def setup(self, stage: str | None = None) -> None:
        """Build the in-memory datasets of the splits `stage` reads (all three when None)."""
        wanted = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(
            stage or "", SPLITS
        )
        for split in wanted:
            if split not in self.datasets:
                self.datasets[split] = self.data.dataset(split)

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        rows = self.datasets[name]
        sampler = EpochSeededSampler(len(rows), self.data.seed) if shuffle else None  # type: ignore[arg-type]
        workers = int(getattr(self.data, "num_workers", 0))
        return DataLoader(
            rows,
            batch_size=self.data.batch_size,
            sampler=sampler,
            collate_fn=as_batch,
            num_workers=workers,
            persistent_workers=workers > 0,  # not started again every epoch
        )

    def train_dataloader(self) -> DataLoader:
        """The train split's batches, shuffled by (seed, epoch)."""
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """The val split's batches, in order."""
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """The test split's batches, in order."""
        return self._loader("test", shuffle=False)


def build_datamodule(cfg: DictConfig, root: Path) -> DataModule:
    """The DataModule over cfg.data, its paths anchored in the project (build_data)."""
    return DataModule(build_data(cfg, root))
