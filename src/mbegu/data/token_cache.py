"""Encoded texts kept on disk between processes: for train, evaluate and every sweep trial.

Tokenising a large text split is the slowest part of reading it, and the train stage, the
evaluate stage and each sweep trial (often processes of their own) encode the same splits with
the same encoder. So each encoded split is kept under the project's `.mbegu/cache/tokens/`,
keyed by everything that decides it: the data's manifest (the source files' md5, the split and
the tokenizer options) and the fitted encoder itself; and each fitted encoder, keyed by the
manifest, for the sweep trials that come back to options another process fitted.

It is a cache, never an output: it is not tracked, deleting it costs only time, a damaged entry
is made again, and only the latest entries stay (KEEP, KEEP_FITS). Entries are plain `.npz`
arrays and JSON, read without pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbegu.errors import MbeguError

if TYPE_CHECKING:
    from mbegu.data.loading import Batch
    from mbegu.features.text import TextEncoder

KEEP = 3  # encoded entries (data version x tokenizer options): a sweep over options rotates them
KEEP_FITS = 16  # fitted encoders, each a JSON vocabulary
FIT = "fit-"  # an entry of a fitted encoder, beside the encoded splits' entries
FIELDS = ("ids", "offsets", "weights", "labels")


def entry_key(manifest: dict[str, Any], encoder: TextEncoder) -> str:
    """The entry of this data and encoder: a sha256 of both, as JSON."""
    text = json.dumps([manifest, encoder.to_dict()], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_folder() -> Path | None:
    """`.mbegu/cache/tokens` of the project (the parent repository's under `dvc exp run`).

    None outside a project: nothing is kept.
    """
    from mbegu.project import store_root

    try:
        base = store_root() / ".mbegu"
    except MbeguError:
        return None
    return base / "cache" / "tokens"


def remembered(
    manifest: dict[str, Any], encoder: TextEncoder, split: str, encode: Callable[[], Batch]
) -> Batch:
    """The split's encoded (ids, offsets, weights) and labels: from the cache, else encoded.

    Args:
        manifest: The data's manifest (data.identity).
        encoder: The fitted text encoder.
        split: "train", "val" or "test".
        encode: Encodes the split when no entry holds it.

    Returns:
        ((ids, offsets, weights), labels), as tensors.
    """
    import numpy as np
    import torch

    folder = cache_folder()
    if folder is None:
        return encode()
    entry = folder / entry_key(manifest, encoder)
    path = entry / f"{split}.npz"
    try:
        with np.load(path, allow_pickle=False) as stored:
            ids, offsets, weights, labels = (torch.from_numpy(stored[f]) for f in FIELDS)
        os.utime(entry)  # recently used: kept longest
        return (ids.long(), offsets, weights), labels
    except (OSError, ValueError, KeyError):
        pass  # not there, or damaged: encode it again
    (ids, offsets, weights), labels = batch = encode()
    ids32 = ids.numpy().astype(np.int32)  # half the disk; read back as int64

    def write(out: Any) -> None:
        np.savez(
            out, ids=ids32, offsets=offsets.numpy(), weights=weights.numpy(), labels=labels.numpy()
        )

    _write(folder, entry, path, write)
    return batch


def fitted(manifest: dict[str, Any], fit: Callable[[], TextEncoder]) -> TextEncoder:
    """The text encoder fitted on this data with these options: from the cache, else fitted.

    The manifest decides the train split and every tokenizer option, its version included
    (data.text), so a sweep trial that comes back to options another process fitted reads that
    fit (plain JSON) instead, and a fit an older tokenizer made is never read.

    Args:
        manifest: The data's manifest (data.identity).
        fit: Fits the encoder when no entry holds it.

    Returns:
        The fitted encoder.
    """
    from mbegu.features.text import TextEncoder

    folder = cache_folder()
    if folder is None:
        return fit()
    text = json.dumps(manifest, sort_keys=True, default=str)
    entry = folder / f"{FIT}{hashlib.sha256(text.encode()).hexdigest()[:32]}"
    path = entry / "encoder.json"
    try:
        encoder = TextEncoder.from_dict(json.loads(path.read_text(encoding="utf-8")))
        os.utime(entry)
        return encoder
    except (OSError, ValueError, TypeError):
        pass  # not there, or damaged: fit it again
    encoder = fit()
    data = json.dumps(encoder.to_dict(), ensure_ascii=False).encode()
    _write(folder, entry, path, lambda out: out.write(data))
    return encoder


def _write(folder: Path, entry: Path, path: Path, write: Callable[[Any], object]) -> None:
    """Write one entry's file whole or not at all, then drop the least recently used entries.

    A cache that cannot be written (a read-only disk, a full one) costs time, not the run.
    """
    temporary = None
    try:
        entry.mkdir(parents=True, exist_ok=True)
        ignore = folder.parents[1] / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")  # never in git, whatever the project's .gitignore says
        handle, temporary = tempfile.mkstemp(dir=entry, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            write(out)
        os.replace(temporary, path)
        fits = entry.name.startswith(FIT)  # small fits and large encodings are kept apart
        others = sorted(
            (
                p
                for p in folder.iterdir()
                if p.is_dir() and p != entry and p.name.startswith(FIT) == fits
            ),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in others[(KEEP_FITS if fits else KEEP) - 1 :]:  # this and the latest used
            shutil.rmtree(old, ignore_errors=True)
    except OSError:  # another process evicted it meanwhile, a read-only or full disk
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
