"""The LightningDataModule: prepares the split once, then serves in-memory tensor batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, Sampler

from mbegu.data.split import (
    SPLITS,
    file_md5,
    load_split,
    read_manifest,
    stratified_split,
    write_split,
)
from mbegu.data.validate import read_table
from mbegu.errors import MbeguError


class TensorRows(Dataset):
    """Rows held as tensors; `__getitems__` fetches a whole batch with one index op."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.as_tensor(indices)
        return self.features[rows], self.labels[rows]


def _as_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    return batch


class EpochSeededSampler(Sampler[int]):
    """A shuffle that depends only on (seed, epoch): a resumed run sees the same order."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed, self.epoch = size, seed, 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this before each epoch
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())


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

    def _manifest(self) -> dict:
        return {
            "raw_md5": file_md5(self.raw_path),
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "seed": self.seed,
        }

    def is_prepared(self) -> bool:
        """True when the split on disk came from this raw file with these split settings."""
        found = read_manifest(self.processed_dir)
        if found is None or not self.raw_path.is_file():
            return False
        found.pop("rows", None)
        return found == self._manifest()

    def prepare_data(self) -> None:
        """Validate the raw CSV and write the split, unless an up-to-date one is on disk.

        The DVC `prepare` stage runs this; an ad-hoc `mbegu train` gets it for free from
        Lightning, without redoing the work when nothing changed.
        """
        if self.is_prepared():
            return
        features, labels, columns = read_table(self.raw_path, self.num_features, self.num_classes)
        counts = torch.bincount(torch.as_tensor(labels), minlength=self.num_classes)
        if int(counts.min()) < 3:
            raise MbeguError(
                f"{self.raw_path}: class {int(counts.argmin())} has {int(counts.min())} rows, "
                "too few to stratify into train/val/test: add rows or set data.num_classes"
            )
        indices = stratified_split(labels, self.val_fraction, self.test_fraction, self.seed)
        write_split(self.processed_dir, features, labels, columns, indices, self._manifest())

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
        return DataLoader(rows, batch_size=self.batch_size, sampler=sampler, collate_fn=_as_batch)

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
