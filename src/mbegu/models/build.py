"""The model config with its sizes read from the data: no count is typed by hand."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, cast

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    from pathlib import Path

    from omegaconf import DictConfig
    from torch import nn

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
    kinds = (takes,) if isinstance(takes, str) else tuple(takes)
    if kind not in kinds:
        name = net["_target_"].rsplit(".", 1)[-1]
        hint = {"text": "model=text", "image": "model=cnn"}.get(kind, "model=mlp")
        raise MbeguError(
            f"the network {name} reads {' or '.join(kinds)} data but data is {kind}: pick {hint}"
        )
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


def load_init_weights(net: nn.Module, relative: str, root: Path) -> str:
    """Start `net` from `model.init_weights`: a state dict file inside the project.

    Read with torch.load(weights_only=True), so a file holding code is refused, never run;
    every tensor must fit (an earlier model's model.pt with the same network and classes).

    Args:
        net: The network, just built.
        relative: The file, relative to the project root.
        root: The project root.

    Returns:
        The file's md5, which the run is tagged with.

    Raises:
        MbeguError: The file is outside the project, missing, not a state dict, or does not
            fit the network (the first mismatch named).
    """
    import torch

    from mbegu.data.files import file_md5
    from mbegu.errors import first_line
    from mbegu.security import inside

    path = inside(root, relative, "model.init_weights")
    where = f"model.init_weights={relative}"
    if not path.is_file():
        raise MbeguError(f"{where}: no such file: give a state dict file, e.g. a model.pt")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refuses pickled objects; a text file is no zip
        raise MbeguError(
            f"{where} is not a state dict torch can load ({first_line(err)})"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):  # a checkpoint
        state = {k.removeprefix("net."): v for k, v in state["state_dict"].items()}
    if not isinstance(state, dict):
        raise MbeguError(f"{where} holds no state dict: save one with torch.save(net.state_dict())")
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and getattr(state[k], "shape", None) != own[k].shape]
    if missing or extra or wrong:
        first = (
            f"{wrong[0]} has shape {_shape(state[wrong[0]])}, the network's "
            f"{tuple(own[wrong[0]].shape)}"
            if wrong
            else f"{'no ' + missing[0] if missing else 'an unknown ' + extra[0]}"
        )
        raise MbeguError(
            f"{where} does not fit {type(net).__name__} ({first}): start from weights of the "
            f"same network, data size and classes"
        )
    net.load_state_dict(state)
    return file_md5(path)


def _shape(value: object) -> object:
    """A tensor's shape as a tuple; what else weights_only lets a file hold, by its type."""
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else type(value).__name__
