"""Checks on a data file that pandas would otherwise settle in silence.

Each one turns a quiet guess into a line the user reads: an error when the data cannot mean
what the file says, a warning when it may.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError


def refuse_duplicate_columns(path: Path, names: list[Any]) -> None:
    """Two columns with one name: pandas renames the second (`age.1`) and the model would
    learn from a column the file never names. The header (`names`, as the file spells them)
    must name each column once."""
    counts = Counter(str(name) for name in names)
    twice = [name for name, count in counts.items() if count > 1]
    if not twice:
        return

    def where(name: str) -> str:
        times = "twice" if counts[name] == 2 else f"{counts[name]} times"
        columns = ", ".join(str(i + 1) for i, other in enumerate(names) if str(other) == name)
        return f"{name!r} {times} (columns {columns})"

    raise MbeguError(
        f"{path} has the column name {', '.join(where(name) for name in twice[:5])}: rename "
        f"the duplicates in the file's header so each column has a name of its own"
    )


def _spelling(label: str) -> str:
    return label.strip().lower()


def look_alike_labels(frame: Any, target: str, where: str, normalize: bool) -> Any:
    """Labels that differ only in case or surrounding spaces ("Positive", "positive ") are
    most often one class typed two ways, yet each becomes a class of its own. Off
    (`normalize` false), they stay as they are and a warning names them; on, every label is
    stripped and lower-cased, and the labels that changed are printed."""
    from mbegu.features.labels import as_text

    texts = [as_text(v) for v in frame[target].tolist()]
    found = sorted({t for t in texts if t is not None})
    if normalize:
        changed = [t for t in found if _spelling(t) != t]
        if not changed:
            return frame
        shown = ", ".join(f"{t!r} -> {_spelling(t)!r}" for t in changed[:20])
        print(
            f"{where}: data.label_normalize maps {target} {shown}{' ...' * (len(changed) > 20)}",
            flush=True,
        )
        frame = frame.copy()
        frame[target] = [None if t is None else _spelling(t) for t in texts]
        return frame
    groups: dict[str, list[str]] = {}
    for label in found:
        groups.setdefault(_spelling(label), []).append(label)
    alike = [group for group in groups.values() if len(group) > 1]
    if alike:
        from mbegu.errors import warn

        shown = " and ".join("(" + ", ".join(map(repr, group)) + ")" for group in alike[:5])
        warn(
            f"{where}: labels of {target} that differ only in case or surrounding spaces are "
            f"separate classes: {shown}; merge them with data.label_normalize=true (strips "
            f"and lower-cases every label), or fix them in the file"
        )
    return frame
