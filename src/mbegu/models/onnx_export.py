"""model.onnx: the network and its softmax as an ONNX graph, for serving without torch.

Written into the model folder beside model.pt, so DVC versions it with the model and the MLflow
model carries it. The graph takes what the encoder gives (mbegu.features), in numpy form:
- a table network: `x`, float32 [rows, inputs] (TableEncoder.matrix);
- a text network: `ids`, int64 [texts, length], and `weights`, float32 [texts, length], each
  text's bag padded with weight 0 (the network's `padded`: the bag's sums by Gather, Mul and
  ReduceSum);
- an image network: `pixels`, float32 [images, channels, size, size] (ImageEncoder.normalise
  of the decoded images: the decoding and normalising stay in numpy, outside the graph);
and gives `probabilities`, float32 [rows, classes]. Rows and length are dynamic axes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

ONNX = "model.onnx"
OPSET = 17
PROBABILITIES = "probabilities"


class TableProbabilities(nn.Module):
    """A table (or image) network's class probabilities from its one input tensor."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax of the logits, as SavedModel.probabilities computes them."""
        return torch.softmax(self.net(x), dim=-1)


class TextProbabilities(nn.Module):
    """A text network's class probabilities from padded bags (its `padded` method)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Softmax of the logits of the padded batch."""
        logits: torch.Tensor = self.net.padded(ids, weights)  # type: ignore[operator]
        return torch.softmax(logits, dim=-1)


def exportable(net: nn.Module) -> str | None:
    """Why the network has no ONNX form, or None when it has one.

    A text network needs `padded` (networks.BagOfNgrams, LinearBag): the bag with offsets
    has no fixed-shape form to export.
    """
    if getattr(net, "takes", "table") == "text" and not callable(getattr(net, "padded", None)):
        return f"{type(net).__name__} reads text but has no `padded` method"
    return None


def export_onnx(
    net: nn.Module, path: Path, inputs: int, image: tuple[int, int] | None = None
) -> None:
    """Write the network's ONNX graph to `path`: the same bytes for the same weights.

    Args:
        net: The network (exported in eval mode: dropout off, batch norm's running stats).
        path: The file to write.
        inputs: A table network's encoded inputs per row (unused for text and images).
        image: An image network's (channels, size): its input is `pixels`.
    """
    training = net.training
    net.eval()
    if image is not None:
        wrapper: nn.Module = TableProbabilities(net)  # one tensor in, softmax out
        channels, size = image
        args: tuple[torch.Tensor, ...] = (torch.zeros(2, channels, size, size),)
        names, axes = ["pixels"], {"pixels": {0: "rows"}}
    elif getattr(net, "takes", "table") == "text":
        wrapper = TextProbabilities(net)
        args = (
            torch.zeros(2, 3, dtype=torch.int64),
            torch.zeros(2, 3, dtype=torch.float32),
        )
        names = ["ids", "weights"]
        axes = {"ids": {0: "rows", 1: "length"}, "weights": {0: "rows", 1: "length"}}
    else:
        wrapper = TableProbabilities(net)
        args = (torch.zeros(2, inputs, dtype=torch.float32),)
        names, axes = ["x"], {"x": {0: "rows"}}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        # dynamo=False: torch 2.13's TorchScript exporter writes these graphs in milliseconds
        # with the onnx package alone; the dynamo exporter (its default) needs onnxscript and
        # costs seconds a process, on every training run, for the same Gather/Gemm graph.
        torch.onnx.export(
            wrapper,
            args,
            buffer,  # type: ignore[arg-type]  # a file object works; the stub says path only
            dynamo=False,
            input_names=names,
            output_names=[PROBABILITIES],
            dynamic_axes={**axes, PROBABILITIES: {0: "rows"}},
            opset_version=OPSET,
        )
    net.train(training)  # as it was: the caller may go on training it
    path.write_bytes(buffer.getvalue())
