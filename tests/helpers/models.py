"""Models of the user's own data without a training run: what `mbegu predict` and the MLflow
model read, made in a second."""

from __future__ import annotations

from pathlib import Path


def untrained_model(project: Path, overrides: list[str], folder: str = "models/m") -> Path:
    """A model folder as training writes it, with its network's first weights: what
    `mbegu predict` reads, in a second instead of a training run."""
    from omegaconf import OmegaConf

    from mbegu.config.compose import compose
    from mbegu.data.sources import build_data
    from mbegu.models.build import sized_model_config
    from mbegu.models.saved import save_model
    from mbegu.security import instantiate

    cfg = compose(overrides, root=project)
    data = build_data(cfg, project)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["model"] = sized_model_config(config["model"], data.sizes, data.kind)
    net = instantiate(config["model"]["net"], where="model")
    model_dir = project / folder
    save_model(model_dir, net, config, data.load())
    return model_dir
