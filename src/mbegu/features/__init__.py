"""What training and inference both need to read raw input: the fitted encoders.

An encoder is fitted on the train split only, saved as plain JSON (no pickle) with the model
and in the `prepare` stage's output, and turns the user's own columns, sentences or photos into
tensors.
"""

from __future__ import annotations

from typing import Any

from mbegu.errors import MbeguError
from mbegu.features.image import ImageEncoder
from mbegu.features.table import TableEncoder
from mbegu.features.text import TextEncoder

Encoder = TableEncoder | TextEncoder | ImageEncoder
KINDS: dict[str, type[TableEncoder] | type[TextEncoder] | type[ImageEncoder]] = {
    "table": TableEncoder,
    "text": TextEncoder,
    "image": ImageEncoder,
}


def encoder_from_dict(data: Any, where: str) -> Encoder:
    """Rebuild an encoder from its JSON form; anything malformed is refused, not guessed."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS:
        raise MbeguError(f"{where}: no table, text or image encoder in it (kind {kind!r}): retrain")
    try:
        return KINDS[kind].from_dict(data)
    except MbeguError as err:  # readable but not by this mbegu (a newer format)
        raise MbeguError(f"{where}: {err}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise MbeguError(f"{where}: the {kind} encoder is malformed ({err}): retrain") from None
