"""One check of `trainer=gpu` on a machine with an NVIDIA GPU: mbegu's Classifier, networks,
metrics and divergence guard trained with conf/trainer/gpu.yaml's settings (CUDA, 16-mixed),
beside the same run on the CPU (conf/trainer/default.yaml), on the digits split.

It needs torch, Lightning, torchmetrics, scikit-learn and PyYAML, not MLflow or Hydra, so it
runs on a bare GPU machine: `PYTHONPATH=src python benchmarks/gpu_check.py`.
Prints one JSON line per run: device, precision, model, epochs, mean epoch ms, val/acc, test/acc.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
import yaml
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from mbegu.data.loading import EpochSeededSampler, TensorRows, as_batch
from mbegu.data.split import stratified_split
from mbegu.models.classifier import Classifier
from mbegu.models.networks import CNN, MLP
from mbegu.training.callbacks import StopOnNonFinite

ROOT = Path(__file__).resolve().parents[1]


class Clock(pl.Callback):
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, *_: object) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.started = time.perf_counter()

    def on_train_epoch_end(self, *_: object) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds.append(time.perf_counter() - self.started)


def trainer_settings(option: str) -> dict:
    """conf/trainer/<option>.yaml with its defaults list resolved (default first)."""
    raw = yaml.safe_load((ROOT / "conf" / "trainer" / f"{option}.yaml").read_text())
    base = {} if option == "default" else trainer_settings("default")
    raw.pop("defaults", None)
    raw.pop("_target_", None)
    return {**base, **raw}


def run(option: str, model: str, epochs: int, seed: int = 42) -> dict:
    pl.seed_everything(seed, workers=True, verbose=False)
    bunch = load_digits()
    features, labels = (bunch.data / 16).astype(np.float32), bunch.target.astype(np.int64)
    splits = stratified_split(labels, 0.15, 0.15, seed)
    tensors = {
        k: (torch.from_numpy(features[v]), torch.from_numpy(labels[v])) for k, v in splits.items()
    }
    train = DataLoader(
        TensorRows(*tensors["train"]),
        batch_size=64,
        collate_fn=as_batch,
        sampler=EpochSeededSampler(len(tensors["train"][1]), seed),
    )
    val = DataLoader(TensorRows(*tensors["val"]), batch_size=64, collate_fn=as_batch)
    test = DataLoader(TensorRows(*tensors["test"]), batch_size=64, collate_fn=as_batch)
    net = MLP(64, 10) if model == "mlp" else CNN(64, 10)
    module = Classifier(net=net, optimizer=lambda p: torch.optim.Adam(p, lr=0.002))
    settings = trainer_settings(option) | {"max_epochs": epochs}
    settings = {k: v for k, v in settings.items() if v is not None}
    clock = Clock()
    trainer = pl.Trainer(
        **settings,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[clock, StopOnNonFinite()],
    )
    trainer.fit(module, train, val)
    val_acc = float(trainer.callback_metrics["val/acc"])
    scores = trainer.test(module, test, verbose=False)[0]
    return {
        "trainer": option,
        "device": torch.cuda.get_device_name() if option == "gpu" else "cpu",
        "precision": settings["precision"],
        "model": model,
        "epochs": epochs,
        "epoch_ms": round(1000 * float(np.median(clock.seconds[1:])), 1),
        "val/acc": round(val_acc, 4),
        "test/acc": round(float(scores["test/acc"]), 4),
    }


def main(epochs: int = 30) -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    options = ["gpu", "default"] if torch.cuda.is_available() else ["default"]
    for option in options:
        for model in ("mlp", "cnn"):
            print(json.dumps(run(option, model, epochs)), flush=True)


if __name__ == "__main__":
    main(*map(int, sys.argv[1:]))
