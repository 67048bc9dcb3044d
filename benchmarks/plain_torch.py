"""The baseline: the train stage's work in a plain PyTorch loop, no Lightning, no tracking.

Same processed data, network, optimizer, epochs, batch size, seed and shuffle order as
`mbegu train --params params.yaml`. Prints one JSON line: per-epoch seconds and final metrics.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from mbegu.data.loading import EpochSeededSampler
from mbegu.data.split import load_split
from mbegu.models.networks import CNN, MLP

NETWORKS = {"mbegu.models.networks.MLP": MLP, "mbegu.models.networks.CNN": CNN}
OPTIMIZERS = {"torch.optim.Adam": torch.optim.Adam, "torch.optim.AdamW": torch.optim.AdamW}


def main(params_path: str = "params.yaml") -> None:
    root = Path(params_path).resolve().parent
    cfg = yaml.safe_load(Path(params_path).read_text())
    data, model_cfg = cfg["data"], cfg["model"]
    torch.manual_seed(cfg["seed"])
    x_train, y_train = map(torch.from_numpy, load_split(root / data["processed_dir"] / "train.csv"))
    x_val, y_val = map(torch.from_numpy, load_split(root / data["processed_dir"] / "val.csv"))
    net_cfg = {k: v for k, v in model_cfg["net"].items() if k != "_target_"}
    net = NETWORKS[model_cfg["net"]["_target_"]](**net_cfg)
    opt_cfg = {k: v for k, v in model_cfg["optimizer"].items() if not k.startswith("_")}
    optimizer = OPTIMIZERS[model_cfg["optimizer"]["_target_"]](net.parameters(), **opt_cfg)
    sampler = EpochSeededSampler(len(y_train), data["seed"])
    batch = data["batch_size"]
    epoch_seconds, metrics = [], {}
    for epoch in range(cfg["trainer"]["max_epochs"]):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        order = torch.tensor(list(iter(sampler)))
        net.train()
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            loss = F.cross_entropy(net(x_train[rows]), y_train[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            logits = net(x_val)
            metrics = {
                "val/loss": float(F.cross_entropy(logits, y_val)),
                "val/acc": float((logits.argmax(1) == y_val).float().mean()),
            }
        epoch_seconds.append(time.perf_counter() - started)
    print(json.dumps({"epoch_seconds": epoch_seconds, **metrics}))


if __name__ == "__main__":
    main(*sys.argv[1:])
