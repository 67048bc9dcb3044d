"""The trained model on disk, read by evaluation, `mbegu predict` and the MLflow model alike.

A model folder holds three files, none of them pickle:
- model.json: the format version, the network's config (`_target_` + arguments, sizes
  included), the fitted encoder (features: the input columns, scaling, categories or the
  vocabulary; an image's size, channels and the train split's mean and spread), the class
  names and the composed training config;
- model.pt: the network's state dict, read with torch.load(weights_only=True);
- model.onnx: the same network as an ONNX graph (models.onnx_export), which serving reads
  without torch (models.onnx_model).
Loading checks every `_target_` against mbegu.security's allow-list before building anything,
so a hostile folder is refused, never run. All three are byte-identical for the same commit,
data and config: no run id, time or absolute path goes in (those live in reports/run.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbegu.errors import MbeguError, first_line, warn
from mbegu.io import atomic_dir
from mbegu.security import instantiate, refuse_interpolation

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from torch import nn

    from mbegu.features import Encoder

FORMAT = 2
WEIGHTS, INFO = "model.pt", "model.json"


@dataclass
class SavedModel:
    """A loaded model: the network in eval mode and the encoder that feeds it raw input.

    Attributes:
        net: The network, in eval mode.
        encoder: The encoder fitted on the train split: raw columns or texts to tensors.
        config: The composed training config, secrets masked.
    """

    net: nn.Module
    encoder: Encoder
    config: dict[str, Any]

    @property
    def features(self) -> list[str]:
        """The raw input columns (a table's) or the one text column."""
        return self.encoder.columns

    @property
    def classes(self) -> list[str]:
        """The class names, in the order of the network's outputs."""
        return self.encoder.classes

    def probabilities(
        self,
        frame: pd.DataFrame,
        where: str = "the input",
        batch: int = 4096,
        first_row: int = 0,
    ) -> np.ndarray:
        """Raw rows (the user's columns) in, one probability per class out: [rows, classes].

        Args:
            frame: The raw rows, with the model's input columns.
            where: What the rows are, as an error line names them.
            batch: Rows per forward pass, which bounds the memory used.
            first_row: The frame's first row in its file (a chunk of it), as errors name rows.

        Returns:
            A float64 array of shape [rows, classes].

        Raises:
            MbeguError: The rows lack an input column or hold a value the encoder refuses.
        """
        import numpy as np
        import torch

        parts = []
        with torch.no_grad():
            for start in range(0, max(len(frame), 1), batch):
                chunk = frame.iloc[start : start + batch]
                logits = self.net(self.encoder.transform(chunk, where, first_row + start))
                parts.append(torch.softmax(logits, dim=-1).double().numpy())
        return np.concatenate(parts) if len(frame) else np.zeros((0, len(self.classes)))


def save_model(model_dir: Path, net: nn.Module, config: dict[str, Any], encoder: Encoder) -> None:
    """Write model.pt and model.json, all or nothing.

    Args:
        model_dir: The model folder to write (replaced whole).
        net: The trained network.
        config: The composed config, secrets masked; its model.net builds the network.
        encoder: The encoder fitted on the train split.
    """
    import torch

    from mbegu.models.onnx_export import ONNX, export_onnx, exportable

    info = {
        "format": FORMAT,
        "net": config["model"]["net"],
        "encoder": encoder.to_dict(),
        "classes": list(encoder.classes),
        "config": config,
    }
    with atomic_dir(model_dir) as tmp:
        torch.save(net.state_dict(), tmp / WEIGHTS)
        (tmp / INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        why = exportable(net)
        if why is None:
            try:
                export_onnx(net, tmp / ONNX, getattr(encoder, "input_size", 0), _image(encoder))
            except Exception as err:  # a user's network may not trace: torch still serves it
                why = first_line(err)
        if why is not None:
            warn(f"no model.onnx for this model ({why}): serve it with --engine torch")


def _image(encoder: Any) -> tuple[int, int] | None:
    """An image encoder's (channels, size): the shape of the network's input; else None."""
    if getattr(encoder, "kind", None) != "image":
        return None
    return int(encoder.channels), int(encoder.image_size)


def model_md5(model_dir: Path) -> str:
    """One digest of a model folder's two files: which trained model this is.

    Args:
        model_dir: The model folder.

    Returns:
        The md5 of model.json and model.pt.
    """
    import hashlib

    digest = hashlib.md5()
    for name in (INFO, WEIGHTS):
        digest.update((model_dir / name).read_bytes())
    return digest.hexdigest()


def load_model(model_dir: Path) -> SavedModel:
    """Read a model folder without unpickling anything or building a class off the allow-list.

    torch is imported only once model.json has passed: a refused folder fails in a second.

    Args:
        model_dir: The model folder (model.json, model.pt).

    Returns:
        The network in eval mode, its encoder and its training config.

    Raises:
        MbeguError: The folder holds no model, one of another format, a refused class or
            interpolation, or weights that do not load.
    """
    info_path, weights = model_dir / INFO, model_dir / WEIGHTS
    if not info_path.is_file() or not weights.is_file():
        raise MbeguError(f"no model in {model_dir} (model.json, model.pt): run `dvc repro train`")
    info, encoder = read_info(model_dir)
    from importlib.util import find_spec

    if find_spec("torch") is None:  # a serving install (requirements/serve.txt)
        raise MbeguError("torch is not installed here: serve model.onnx with --engine onnx")
    net = instantiate(info["net"], where=str(info_path))
    import torch

    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as err:  # weights_only refuses pickled objects; shapes may not fit
        raise MbeguError(f"{weights} cannot be loaded as weights ({first_line(err)})") from None
    return SavedModel(net.eval(), encoder, info["config"])


def read_info(model_dir: Path) -> tuple[dict[str, Any], Encoder]:
    """model.json checked (format, no interpolation) and its encoder rebuilt; nothing imported.

    Args:
        model_dir: The model folder.

    Returns:
        model.json's content and the fitted encoder.

    Raises:
        MbeguError: model.json is missing, not JSON, of another format or refused.
    """
    info_path = model_dir / INFO
    try:
        info = json.loads(info_path.read_text())
    except OSError as err:
        raise MbeguError(
            f"no model in {model_dir} ({first_line(err)}): run `dvc repro train`"
        ) from None
    except ValueError as err:
        raise MbeguError(f"{info_path} is not valid JSON ({first_line(err)})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise MbeguError(
            f"{info_path} is not an mbegu model of format {FORMAT}: retrain with this mbegu"
        )
    # Configs are checked for ${...}; the encoder is data (a category may spell "${x}").
    refuse_interpolation({"net": info.get("net"), "config": info.get("config")}, str(info_path))
    from mbegu.features import encoder_from_dict

    return info, encoder_from_dict(info.get("encoder"), str(info_path))
