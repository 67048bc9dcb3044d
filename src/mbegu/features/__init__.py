"""What both training and inference need to read raw input: the fitted table and text encoders.

An encoder is fitted on the train split only, saved as plain JSON (no pickle) with the model
and in the `prepare` stage's output, and turns the user's own columns or sentences into tensors.
"""

from __future__ import annotations

from typing import Any

from mbegu.errors import MbeguError
from mbegu.features.table import TableEncoder
from mbegu.features.text import TextEncoder

Encoder = TableEncoder | TextEncoder
KINDS: dict[str, type[TableEncoder] | type[TextEncoder]] = {
    "table": TableEncoder,
    "text": TextEncoder,
}


def encoder_from_dict(data: Any, where: str) -> Encoder:
    """Rebuild an encoder from its JSON form; anything malformed is refused, not guessed."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS:
        raise MbeguError(f"{where}: no table or text encoder in it (kind {kind!r}): retrain")
    try:
        return KINDS[kind].from_dict(data)
    except (KeyError, TypeError, ValueError) as err:
        raise MbeguError(f"{where}: the {kind} encoder is malformed ({err}): retrain") from None
