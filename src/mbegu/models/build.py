"""The model config with its sizes read from the data: no count is typed by hand."""

from __future__ import annotations

import inspect
from typing import Any

from mbegu.errors import MbeguError


def sized_model_config(model: dict[str, Any], sizes: dict[str, int], kind: str) -> dict[str, Any]:
    """`model` (a resolved cfg.model) with the network's and the classifier's sizes filled in
    from the data's encoder; a network that cannot read this kind of data is one line."""
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
