"""The pipeline's work (`dvc repro -f`: prepare -> train -> evaluate) as one plain script:
read the CSV, the same stratified split, standardise with train statistics, train the same
network in a plain PyTorch loop (early stopping on val/acc, best weights kept), score the
test split with scikit-learn. No DVC, Lightning or MLflow.

Prints one JSON line. Usage: python benchmarks/plain_pipeline.py [params.yaml]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.metrics import accuracy_score, f1_score

from mbegu.data.loading import EpochSeededSampler
from mbegu.data.split import stratified_split
from plain_torch import NETWORKS, OPTIMIZERS, train_epoch  # benchmarks/ is on sys.path


def main(params_path: str = "params.yaml") -> None:
    started = time.perf_counter()
    root = Path(params_path).resolve().parent
    cfg = yaml.safe_load(Path(params_path).read_text())
    data, seed = cfg["data"], cfg["seed"]
    frame = pd.read_csv(root / data["path"])
    labels = frame[data["target"]].to_numpy()
    x = frame.drop(columns=[data["target"]]).to_numpy(np.float32)
    classes, y = np.unique(labels, return_inverse=True)
    parts = stratified_split(y, data["val_fraction"], data["test_fraction"], data["seed"])
    mean, std = x[parts["train"]].mean(0), x[parts["train"]].std(0)
    std[std == 0] = 1.0
    tensors = {
        k: (torch.tensor((x[rows] - mean) / std), torch.tensor(y[rows]))
        for k, rows in parts.items()
    }
    torch.manual_seed(seed)
    model = cfg["model"]
    net_cfg = {k: v for k, v in model["net"].items() if k != "_target_"}
    net_cfg |= {"in_features": x.shape[1], "num_classes": len(classes)}
    net = NETWORKS[model["net"]["_target_"]](**net_cfg)
    opt_cfg = {k: v for k, v in model["optimizer"].items() if not k.startswith("_")}
    optimizer = OPTIMIZERS[model["optimizer"]["_target_"]](net.parameters(), **opt_cfg)
    (x_train, y_train), (x_val, y_val) = tensors["train"], tensors["val"]
    sampler, batch = EpochSeededSampler(len(y_train), data["seed"]), data["batch_size"]
    patience = cfg["callbacks"]["early_stopping"]["patience"]
    best, best_state, waited = -1.0, None, 0
    for epoch in range(cfg["trainer"]["max_epochs"]):
        train_epoch(net, optimizer, (x_train, y_train), sampler, epoch, batch)
        net.eval()
        with torch.no_grad():
            acc = float((net(x_val).argmax(1) == y_val).float().mean())
        if acc > best:
            best, best_state, waited = acc, {k: v.clone() for k, v in net.state_dict().items()}, 0
        else:
            waited += 1
            if waited >= patience:
                break
    net.load_state_dict(best_state)
    x_test, y_test = tensors["test"]
    with torch.no_grad():
        predicted = net(x_test).argmax(1).numpy()
    metrics = {
        "test/acc": accuracy_score(y_test, predicted),
        "test/f1_macro": f1_score(y_test, predicted, average="macro"),
        "val/acc_best": best,
    }
    print(json.dumps({"wall_s": time.perf_counter() - started, **metrics}))


if __name__ == "__main__":
    main(*sys.argv[1:])
