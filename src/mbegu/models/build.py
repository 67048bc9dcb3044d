"""The model config with its sizes read from the data: no count is typed by hand."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, cast

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from mbegu.data.sources import FileData


def sized_model_config(model: dict[str, Any], sizes: dict[str, int], kind: str) -> dict[str, Any]:
    """`model` (a resolved cfg.model) with the sizes filled in from the data's encoder.

    The sizes go to the network and the classifier; a network that cannot read this kind of data is
    one line.
    """
    from mbegu.security import check_targets

    check_targets(model, "model")  # before anything is imported
    from hydra.utils import get_object

    net = dict(model["net"])
    net_class = get_object(net["_target_"])
    takes = getattr(net_class, "takes", "table")
    if takes != kind:
        name = net["_target_"].rsplit(".", 1)[-1]
        hint = "model=text" if kind == "text" else "model=mlp"
        raise MbeguError(f"the network {name} reads {takes} data but data is {kind}: pick {hint}")
    accepted = inspect.signature(net_class).parameters
    net |= {key: value for key, value in sizes.items() if key in accepted}
    sized = {**model, "net": net}
    if "num_classes" in inspect.signature(get_object(model["_target_"])).parameters:
        sized["num_classes"] = sizes["num_classes"]
    return sized


def with_data_sizes(cfg: DictConfig, data: FileData) -> DictConfig:
    """`cfg` with the model's sizes (inputs or vocabulary, classes) read from the data.

    The config that is logged, checkpointed and saved with the model says what was built.
    """
    from omegaconf import OmegaConf, open_dict

    model = cast("dict[str, Any]", OmegaConf.to_container(cfg.model, resolve=True))
    sized = sized_model_config(model, data.sizes, data.kind)
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.model = OmegaConf.create(sized)
    return cfg
