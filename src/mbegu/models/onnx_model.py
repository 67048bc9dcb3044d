"""A model folder served by ONNX Runtime: model.json's encoder and model.onnx, no torch.

What `mbegu predict --engine onnx` and the MLflow model with engine=onnx load. It answers as
SavedModel does (the same rows in, the same probabilities out, within float rounding), from
files that cannot run code: JSON and an ONNX graph of standard operators, nothing unpickled,
no class built from the folder's config. Importing this module imports neither torch nor
Lightning (tests/test_onnx.py checks it in a fresh process).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbegu.errors import MbeguError, first_line
from mbegu.models.saved import read_info

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime
    import pandas as pd

    from mbegu.features import Encoder
    from mbegu.features.text import TextEncoder

# models.onnx_export's names, repeated: importing that module would import torch.
ONNX, PROBABILITIES = "model.onnx", "probabilities"
# Texts per run of a text graph: sorted by length, so that each group pads little.
TEXT_GROUP = 64


@dataclass
class OnnxModel:
    """A loaded ONNX model: the runtime's session and the encoder that feeds it raw input.

    Attributes:
        session: ONNX Runtime's session on model.onnx.
        encoder: The encoder fitted on the train split.
        config: The composed training config, secrets masked.
    """

    session: onnxruntime.InferenceSession
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
        """Raw rows in, one probability per class out: [rows, classes], as SavedModel's.

        Args:
            frame: The raw rows, with the model's input columns.
            where: What the rows are, as an error line names them.
            batch: Rows per run of the graph, which bounds the memory used.
            first_row: The frame's first row in its file (a chunk of it), as errors name rows.

        Returns:
            A float64 array of shape [rows, classes].

        Raises:
            MbeguError: The rows lack an input column or hold a value the encoder refuses.
        """
        import numpy as np

        from mbegu.features.image import ImageEncoder
        from mbegu.features.text import TextEncoder

        if isinstance(self.encoder, ImageEncoder):  # decoded and normalised in numpy
            from mbegu.models.image_answers import image_probabilities

            return image_probabilities(self, self.encoder.pixels(frame, where, first_row), batch)
        parts = []
        for start in range(0, len(frame), batch):
            chunk = frame.iloc[start : start + batch]
            if isinstance(self.encoder, TextEncoder):
                parts.append(self._texts(self.encoder, chunk, where, first_row + start))
            else:
                (probs,) = self.session.run(
                    [PROBABILITIES], {"x": self.encoder.matrix(chunk, where, first_row + start)}
                )
                parts.append(probs.astype(np.float64))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes)))

    def _texts(
        self, encoder: TextEncoder, frame: pd.DataFrame, where: str, start: int
    ) -> np.ndarray:
        """A text model's probabilities, the texts run in groups of about the same length.

        The graph reads a dense [texts, length] batch: one long tweet would pad a thousand short
        ones to its length, and the gather's work grows with the padding.
        """
        import numpy as np

        ids, offsets, weights = encoder.bags(encoder.texts(frame, where, start))
        all_ids, all_weights = padded(ids, offsets, weights)
        lengths = np.diff(np.append(offsets, len(ids)))
        order = np.argsort(lengths, kind="stable")
        out = np.zeros((len(frame), len(self.classes)))
        for group in np.array_split(order, max(1, -(-len(order) // TEXT_GROUP))):
            width = max(1, int(lengths[group].max(initial=0)))
            feed = {"ids": all_ids[group, :width], "weights": all_weights[group, :width]}
            (out[group],) = self.session.run([PROBABILITIES], feed)
        return out


def padded(
    ids: np.ndarray, offsets: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """EmbeddingBag's flat (ids, offsets, weights) as [texts, length] arrays, padded with 0.

    An id of 0 with weight 0 adds nothing to a sum; length is at least 1, so a batch of texts
    with no known token is still a valid input.
    """
    import numpy as np

    starts = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(np.append(starts, len(ids)))
    out_ids = np.zeros((len(starts), max(1, int(lengths.max(initial=0)))), dtype=np.int64)
    out_weights = np.zeros(out_ids.shape, dtype=np.float32)
    rows = np.repeat(np.arange(len(starts)), lengths)  # each flat id's text, and its place in it
    places = np.arange(len(ids)) - np.repeat(starts, lengths)
    out_ids[rows, places] = ids
    out_weights[rows, places] = weights
    return out_ids, out_weights


def load_onnx(model_dir: Path) -> OnnxModel:
    """Read a model folder's model.json and model.onnx: JSON and a graph, nothing executable.

    Args:
        model_dir: The model folder.

    Returns:
        The runtime's session, the encoder and the training config.

    Raises:
        MbeguError: No model.json or model.onnx, onnxruntime not installed, or a graph the
            runtime refuses.
    """
    info, encoder = read_info(model_dir)
    graph = model_dir / ONNX
    if not graph.is_file():
        raise MbeguError(
            f"no model.onnx in {model_dir}: its network was saved without one (an older mbegu, "
            f"or a network ONNX cannot export); retrain it with this mbegu (`dvc repro train`), "
            f"or use --engine torch"
        )
    try:
        import onnxruntime
    except ImportError:
        raise MbeguError(
            "onnxruntime is not installed: `pip install onnxruntime` (or mbegu's `serve` "
            "extra), or use --engine torch"
        ) from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the runtime's notices are not the user's
    # Its threads sleep between requests rather than spin: on a small machine shared with other
    # work, spinning threads took a fifth more time for 1,000 texts, and burn a core when idle.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = onnxruntime.InferenceSession(
            str(graph), options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # the runtime's own exception types (InvalidGraph, Fail, ...)
        raise MbeguError(
            f"{graph} cannot be loaded by ONNX Runtime ({first_line(err)}): retrain the model"
        ) from None
    return OnnxModel(session, encoder, info["config"])
