"""The LightningDataModule: prepares the split once, then serves in-memory tensor batches."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from mbegu.data.loading import EpochSeededSampler, TensorRows, as_batch
from mbegu.data.split import SPLITS, load_split, prepare_split
from mbegu.errors import MbeguError


class DigitsDataModule(pl.LightningDataModule):
    """Raw CSV -> validated, stratified split on disk -> tensor batches."""

    def __init__(
        self,
        raw_path: str,
        processed_dir: str,
        num_features: int = 64,
        num_classes: int = 10,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.raw_path, self.processed_dir = Path(raw_path), Path(processed_dir)
        self.num_features, self.num_classes = num_features, num_classes
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.batch_size, self.seed = batch_size, seed
        self.datasets: dict[str, TensorRows] = {}

    def prepare_data(self) -> None:
        """Validate the raw CSV and write the split, unless an up-to-date one is on disk.

        The DVC `prepare` stage does the same through prepare_split; an ad-hoc `mbegu train`
        gets it from Lightning, without redoing the work when nothing changed.
        """
        prepare_split(
            self.raw_path,
            self.processed_dir,
            self.num_features,
            self.num_classes,
            self.val_fraction,
            self.test_fraction,
            self.seed,
        )

    def setup(self, stage: str | None = None) -> None:
        wanted = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
        }.get(stage or "", SPLITS)
        for name in wanted:
            if name in self.datasets:
                continue
            path = self.processed_dir / f"{name}.csv"
            if not path.is_file():
                raise MbeguError(f"processed split {path} not found: run `dvc repro prepare`")
            features, labels = load_split(path)
            if features.shape[1] != self.num_features:
                raise MbeguError(
                    f"{path} has {features.shape[1]} features, the config says "
                    f"{self.num_features}: run `dvc repro prepare`"
                )
            self.datasets[name] = TensorRows(torch.from_numpy(features), torch.from_numpy(labels))

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        rows = self.datasets[name]
        sampler = EpochSeededSampler(len(rows), self.seed) if shuffle else None
        return DataLoader(rows, batch_size=self.batch_size, sampler=sampler, collate_fn=as_batch)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def build_datamodule(cfg: DictConfig, root: Path) -> DigitsDataModule:
    """Instantiate cfg.data with its paths anchored at the project root."""
    from hydra.utils import instantiate

    return instantiate(
        cfg.data,
        raw_path=str(root / cfg.data.raw_path),
        processed_dir=str(root / cfg.data.processed_dir),
    )
