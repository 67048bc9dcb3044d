"""The loaded-data cache: a sweep's trials in one process read the same data once.

A sweep trains many trials in one process on the same data, so it is read, split and encoded
once per process, keyed by what decides its content (the source files' md5 and the options the
prepared split's manifest records). One entry: the latest data.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from mbegu.data.loading import Batch
    from mbegu.features import Encoder

    Loaded = tuple[dict[str, pd.DataFrame], Encoder, dict[str, Batch]]

_LOADED: dict[str, Loaded] = {}


def key(kind: str, manifest: dict[str, Any]) -> str:
    """The cache key of a data source's kind and manifest."""
    return json.dumps([kind, manifest], sort_keys=True, default=str)


def recall(found: str) -> Loaded | None:
    """The frames, encoder and tensors loaded under this key, if they are the latest."""
    return _LOADED.get(found)


def keep(found: str, loaded: Loaded) -> None:
    """Remember these, forgetting any other data (one entry)."""
    _LOADED.clear()
    _LOADED[found] = loaded
