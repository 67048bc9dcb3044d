"""The LightningDataModule: prepares the split once, then serves in-memory tensor batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from mbegu.data.digits import feature_columns
from mbegu.data.loading import EpochSeededSampler, TensorRows, as_batch
from mbegu.data.split import SPLITS, is_prepared, load_split, make_split
from mbegu.errors import MbeguError


class DigitsDataModule(pl.LightningDataModule):
    """Raw CSV -> validated, stratified split -> tensor batches.

    The split comes from the `prepare` stage's files when they match the raw data, seed and
    fractions; otherwise (an ad hoc `mbegu train seed=7`) it is made in memory, so only the
    DVC stage ever writes artifacts/processed.
    """

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

    @property
    def feature_names(self) -> list[str]:
        """The raw columns the model reads, in order: what `predict` and MLflow ask for."""
        return feature_columns(self.num_features)

    @property
    def class_names(self) -> list[str]:
        return [str(c) for c in range(self.num_classes)]

    def example_frame(self, rows: int = 5):  # -> pandas.DataFrame
        """A few raw test rows with their column names: the MLflow model's input example."""
        import pandas as pd

        self.setup("test")
        features = self.datasets["test"].features[:rows].numpy().astype(np.float64)
        return pd.DataFrame(features, columns=self.feature_names)

    def setup(self, stage: str | None = None) -> None:
        wanted = {
            "fit": ("train", "val"),
            "validate": ("val",),
            "test": ("test",),
            "predict": ("test",),
        }.get(stage or "", SPLITS)
        if all(name in self.datasets for name in wanted):
            return
        if is_prepared(
            self.processed_dir, self.raw_path, self.val_fraction, self.test_fraction, self.seed
        ):
            splits = {name: load_split(self.processed_dir / f"{name}.csv") for name in wanted}
        elif self.raw_path.is_file():
            splits, _, _ = make_split(
                self.raw_path,
                self.num_features,
                self.num_classes,
                self.val_fraction,
                self.test_fraction,
                self.seed,
            )
        else:
            raise MbeguError(f"data file {self.raw_path} not found: run `dvc pull` to restore it")
        for name in wanted:
            features, labels = splits[name]
            self._check(name, features, labels)
            self.datasets[name] = TensorRows(torch.from_numpy(features), torch.from_numpy(labels))

    def _check(self, name: str, features: np.ndarray, labels: np.ndarray) -> None:
        if features.shape[1] != self.num_features:
            raise MbeguError(
                f"the {name} split has {features.shape[1]} features, data.num_features says "
                f"{self.num_features}: fix data.num_features or run `dvc repro prepare`"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise MbeguError(
                f"the {name} split has label {int(labels.max())}, outside 0.."
                f"{self.num_classes - 1}: data.num_classes={self.num_classes} disagrees with "
                f"the data"
            )

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
    from mbegu.security import inside, instantiate

    return instantiate(
        cfg.data,
        where="data",
        raw_path=str(inside(root, cfg.data.raw_path, "data.raw_path")),
        processed_dir=str(inside(root, cfg.data.processed_dir, "data.processed_dir")),
    )
