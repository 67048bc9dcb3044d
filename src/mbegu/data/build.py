"""Building a data set's splits: read every source, check it, split it, fit the encoder.

What tables and texts share; each kind's hooks on data.base.FileData say what differs. Runs
for the `prepare` stage, and in memory for an ad hoc run whose split is not prepared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mbegu.data.checks import apply_missing, look_alike_labels, refuse_continuous_target
from mbegu.data.files import read_source
from mbegu.data.split import SPLITS, split_rows
from mbegu.errors import MbeguError
from mbegu.features.cells import class_indices, require_columns
from mbegu.features.labels import label_values, sort_classes

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from mbegu.data.base import FileData
    from mbegu.features import Encoder


def build_splits(data: FileData) -> tuple[dict[str, pd.DataFrame], Encoder]:
    """Read, check, split and fit: ({split: rows}, encoder).

    The kind's own hooks (input_columns, check_values, fit_encoder) do what differs between
    tables and texts.

    Args:
        data: The data to build.

    Returns:
        Each split's rows, and the encoder fitted on the train split.

    Raises:
        MbeguError: A file or its values cannot be used, a split is empty, or there is one
            class.
    """
    frames = {
        key: read_source(path, data.target, data.sep, data.quoting)
        for key, path in data.sources.items()
    }
    first_key = next(iter(frames))
    columns = data.input_columns(frames[first_key], str(data.sources[first_key]))
    for key, frame in frames.items():
        require_columns(frame, [*columns, data.target], str(data.sources[key]))
        where = str(data.sources[key])
        frame = look_alike_labels(frame, data.target, where, data.label_normalize)
        data.check_values(frame, columns, data.sources[key])
        frames[key] = apply_missing(frame, [*columns, data.target], data.missing, data.sources[key])
    if "all" in frames:
        frame = frames.pop("all")
        classes = data.classes or _found_classes(data, frame, data.sources["all"])
        codes = class_indices(frame, data.target, classes, str(data.sources["all"]))
        frames = split_rows(
            frame,
            codes,
            classes,
            data.sources["all"],
            data.val_fraction,
            data.test_fraction,
            data.seed,
        )
        del frame  # the splits are copies: the file's rows, whole, would outlive them here
    else:
        classes = data.classes or _found_classes(data, frames["train"], data.sources["train"])
        for split in SPLITS:
            class_indices(frames[split], data.target, classes, str(data.sources[split]))
    for split in SPLITS:
        if frames[split].empty:
            raise MbeguError(
                f"the {split} split has no rows (after data.missing={data.missing}): add rows"
                f", or raise data.val_fraction / data.test_fraction"
            )
    if len(classes) < 2:
        raise MbeguError(
            f"{data.target} has only the class {classes}: a classifier needs two or more"
        )
    return frames, data.fit_encoder(frames["train"], columns, classes)


def _found_classes(data: FileData, frame: pd.DataFrame, path: Path) -> list[str]:
    """The label values, sorted; a target of measurements is refused (mbegu classifies)."""
    classes = sort_classes(label_values(frame, data.target))
    refuse_continuous_target(classes, len(frame), data.target, str(path))
    return classes
