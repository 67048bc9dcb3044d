"""The baseline: the train stage's work in a plain PyTorch loop, no Lightning, no tracking.

Same processed data, network, optimizer, epochs, batch size, seed and shuffle order as
`mbegu train --params params.yaml`. Prints one JSON line: per-epoch seconds and final metrics.
Usage: python benchmarks/plain_torch.py [params.yaml] [epochs]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from omegaconf import OmegaConf

from mbegu.data.loading import EpochSeededSampler
from mbegu.data.sources import build_data
from mbegu.models.build import sized_model_config
from mbegu.models.networks import CNN, MLP

NETWORKS = {"mbegu.models.networks.MLP": MLP, "mbegu.models.networks.CNN": CNN}
OPTIMIZERS = {"torch.optim.Adam": torch.optim.Adam, "torch.optim.AdamW": torch.optim.AdamW}


def setup(params_path: str) -> tuple[dict, dict, torch.nn.Module, torch.optim.Optimizer]:
    """(config, tensors, network, optimizer) exactly as the train stage builds them."""
    root = Path(params_path).resolve().parent
    cfg = yaml.safe_load(Path(params_path).read_text())
    model_cfg = cfg["model"]
    torch.manual_seed(cfg["seed"])
    # The prepare stage's split and encoder, read as the train stage reads them.
    source = build_data(OmegaConf.create(cfg), root)
    tensors = {split: source.tensors(split) for split in ("train", "val")}
    model_cfg = sized_model_config(model_cfg, source.sizes, source.kind)
    net_cfg = {k: v for k, v in model_cfg["net"].items() if k != "_target_"}
    net = NETWORKS[model_cfg["net"]["_target_"]](**net_cfg)
    opt_cfg = {k: v for k, v in model_cfg["optimizer"].items() if not k.startswith("_")}
    optimizer = OPTIMIZERS[model_cfg["optimizer"]["_target_"]](net.parameters(), **opt_cfg)
    return cfg, tensors, net, optimizer


def evaluate(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    net.eval()
    with torch.no_grad():
        logits = net(x)
    return {
        "val/loss": float(F.cross_entropy(logits, y)),
        "val/acc": float((logits.argmax(1) == y).float().mean()),
    }


def train_epoch(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train: tuple[torch.Tensor, torch.Tensor],
    sampler: EpochSeededSampler,
    epoch: int,
    batch: int,
) -> None:
    """One epoch in the train stage's shuffle order (also used by the other plain scripts)."""
    x_train, y_train = train
    sampler.set_epoch(epoch)
    order = torch.tensor(list(iter(sampler)))
    net.train()
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        loss = F.cross_entropy(net(x_train[rows]), y_train[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def main(params_path: str = "params.yaml", epochs: str | None = None) -> None:
    cfg, tensors, net, optimizer = setup(params_path)
    (x_train, y_train), (x_val, y_val) = tensors["train"], tensors["val"]
    sampler = EpochSeededSampler(len(y_train), cfg["data"]["seed"])
    batch = cfg["data"]["batch_size"]
    epoch_seconds, metrics = [], {}
    for epoch in range(int(epochs) if epochs else cfg["trainer"]["max_epochs"]):
        started = time.perf_counter()
        train_epoch(net, optimizer, (x_train, y_train), sampler, epoch, batch)
        metrics = evaluate(net, x_val, y_val)
        epoch_seconds.append(time.perf_counter() - started)
    print(json.dumps({"epoch_seconds": epoch_seconds, **metrics}))


if __name__ == "__main__":
    main(*sys.argv[1:])
