"""The trained model on disk: network config + weights, readable without pickled classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from mbegu.errors import MbeguError
from mbegu.io import atomic_dir

if TYPE_CHECKING:
    from torch import nn

WEIGHTS = "model.pt"
RUN_INFO = "run.json"


def save_model(model_dir: Path, net: nn.Module, cfg: DictConfig, run: dict[str, Any]) -> None:
    """Write model.pt (net config, weights, full config) and run.json, all or nothing."""
    import torch

    with atomic_dir(model_dir) as tmp:
        torch.save(
            {
                "net": OmegaConf.to_container(cfg.model.net, resolve=True),
                "state_dict": net.state_dict(),
                "config": OmegaConf.to_container(cfg, resolve=True),
            },
            tmp / WEIGHTS,
        )
        (tmp / RUN_INFO).write_text(json.dumps(run, indent=2, sort_keys=True) + "\n")


def build_network(net_config: dict[str, Any]) -> nn.Module:
    from hydra.utils import instantiate

    return instantiate(net_config)


def load_model(model_dir: Path) -> tuple[nn.Module, dict[str, Any]]:
    """(network in eval mode, the full config it was trained with)."""
    import torch

    path = model_dir / WEIGHTS
    if not path.is_file():
        raise MbeguError(f"model {path} not found: run `dvc repro train`")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    net = build_network(saved["net"])
    net.load_state_dict(saved["state_dict"])
    return net.eval(), saved["config"]


def read_run_info(model_dir: Path) -> dict[str, Any]:
    path = model_dir / RUN_INFO
    if not path.is_file():
        raise MbeguError(f"{path} not found: run `dvc repro train`")
    return json.loads(path.read_text())
