"""`mbegu data add FILE --target COL [--text COL]`: bring your own file into the project.

It reads the file, writes conf/data/<name>.yaml with what it found (the kind of data, input
columns and their types, the classes, the missing values), makes it the default data in
conf/config.yaml with a model that reads its kind (`model=text` for `--text`), versions the
data folder with DVC and recomposes params.yaml. No Python to write: `dvc repro` (or
`dvc exp run`, or `mbegu sweep sweep=default`) then trains on it.

The data folder is the one conf/ configures (data.dir, `${paths.data_dir}`: data/ unless
conf/paths/ says otherwise), the folder the pipeline's `prepare` stage depends on.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mbegu.errors import MbeguError
from mbegu.security import inside, safe_name

if TYPE_CHECKING:
    import pandas as pd


def describe(
    frame: pd.DataFrame, target: str, text: str | None
) -> tuple[list[str], dict[str, str], dict[Hashable, int]]:
    """(classes, {column: number|category|text}, {column: missing count})."""
    from mbegu.data.table import is_numeric
    from mbegu.features.labels import label_values, sort_classes

    if target not in frame.columns:
        raise MbeguError(
            f"the file has no column {target!r} (--target): its columns are "
            f"{', '.join(map(str, list(frame.columns)[:8]))}"
        )
    if text is not None and text not in frame.columns:
        raise MbeguError(f"the file has no column {text!r} (--text)")
    classes = sort_classes(label_values(frame, target))
    columns = [text] if text else [str(c) for c in frame.columns if c != target]
    kinds = {
        c: "text" if c == text else "number" if is_numeric(frame[c]) else "category"
        for c in columns
    }
    gaps = {c: int(n) for c, n in frame[[*columns, target]].isna().sum().items() if n}
    return classes, kinds, gaps


# mbegu's own data configs: a new one may not take their names.
OWN_CONFIGS = ("table", "text", "images", "digits")


@dataclass
class Added:
    """What `mbegu data add` did, and the command that trains on the data as it left it."""

    config: Path
    data_dir: str  # the data folder DVC versions, relative to the project: `data` by default
    model: str  # the model option that reads this kind of data
    next_step: str


def config_name(name: str | None, stem: str) -> str:
    """The new data config's name: `--name`, else the file's or folder's name made safe.

    Raises:
        MbeguError: An unsafe name, or one of mbegu's own data configs.
    """
    name = safe_name(name or re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_"), "--name")
    if name in OWN_CONFIGS:
        raise MbeguError(f"--name {name} is one of mbegu's own data configs: pick another name")
    return name


def model_for(text: bool, current: str | None) -> str:
    """The model option for the data's kind: text needs `text`.

    A table keeps the current model unless that one reads only text.
    """
    if text:
        return "text"
    return "mlp" if current in (None, "text") else current


def configured_data_dir(root: Path, kind: str) -> Path:
    """The data folder a new data config gets: data.dir as conf/ composes it.

    It is composed for the kind the config builds on (`table`, `text` or `images`, whose `dir`
    is `${paths.data_dir}`).

    Args:
        root: the project.
        kind: the data option the new config builds on: table, text or images.

    Returns:
        The folder, inside the project: `dvc add` versions it, the `prepare` stage depends
        on it, and build_data (mbegu.data.sources) refuses a data path outside it.

    Raises:
        MbeguError: data.dir leads outside the project (mbegu.security.inside) or is the
            project itself, which DVC cannot version as data.
    """
    from mbegu.config.compose import compose

    configured = compose([f"data={kind}"], root=root).data.get("dir") or "data"
    data_dir = inside(root, configured, "data.dir")
    if data_dir == root:
        raise MbeguError(
            f"data.dir={configured!r} is the project itself: name a folder in it for the data "
            f"(paths.data_dir in conf/paths/, e.g. data)"
        )
    return data_dir


def add_data(
    path: Path, target: str, text: str | None, name: str | None, root: Path, use: bool = True
) -> Added:
    """`mbegu data add`: describe the file in a new data config and version its folder with DVC.

    Args:
        path: The data file, inside the project's data folder.
        target: The label column (`--target`).
        text: The text column for short texts (`--text`); None: a table.
        name: The new config's name (`--name`); None: from the file's name.
        root: The project.
        use: Make the data and a model that reads it conf/config.yaml's defaults.

    Returns:
        The config written, the data folder, the model and the command that trains on it.

    Raises:
        MbeguError: The file lies outside the data folder, the name is taken or unsafe, or the file
            cannot be a classifier's data (no such column, one class, measurements).
    """
    import os

    from mbegu.data.files import read_frame

    data_dir = configured_data_dir(root, "text" if text else "table")
    folder = data_dir.relative_to(root).as_posix()
    file = Path(os.path.abspath(path))
    if data_dir not in file.parents:
        raise MbeguError(
            f"{path} is not in the project's data folder {folder}/ (data.dir): copy it there "
            f"first (DVC versions that folder), e.g. cp {path} {folder}/"
        )
    file = inside(root, file.relative_to(root).as_posix(), "FILE")
    name = config_name(name, file.stem)
    frame = read_frame(file)
    classes, kinds, gaps = describe(frame, target, text)
    from mbegu.data.checks import look_alike_labels, refuse_continuous_target, warn_dates

    refuse_continuous_target(classes, len(frame), target, str(path))
    look_alike_labels(frame, target, str(path), normalize=False)  # a warning, if any
    warn_dates(frame, [c for c, kind in kinds.items() if kind == "category"], str(path))
    if len(classes) < 2:
        raise MbeguError(f"column {target!r} holds {len(classes)} class(es): a classifier needs 2+")
    rel = file.relative_to(root).as_posix()
    lines = [
        f"# {rel}: {len(frame)} rows, written by `mbegu data add` (edit freely).",
        f"# Classes ({len(classes)}): {', '.join(classes[:20])}{' ...' * (len(classes) > 20)}",
    ]
    lines += [f"# {column}: {kind}" for column, kind in kinds.items()]
    if gaps:
        shown = ", ".join(f"{c} {n}" for c, n in gaps.items())
        lines.append(f"# Missing values: {shown}. impute fills inputs (train median / most")
        lines.append("# frequent value); rows without a label are left out. Or: error, drop.")
    lines += [
        "defaults:",
        f"  - {'text' if text else 'table'}",
        "  - _self_",
        f"name: {name}",
        f"path: {_yaml(rel)}",
        f"target: {_yaml(target)}",
        f"classes: [{', '.join(_yaml(c) for c in classes)}]",
    ]
    if text:
        lines.append(f"text_column: {_yaml(text)}")
    else:
        categorical = [c for c, kind in kinds.items() if kind == "category"]
        lines.append(f"categorical: [{', '.join(_yaml(c) for c in categorical)}]")
        ids = [c for c in kinds if _is_row_id(frame[c])]
        lines.append(f"drop: [{', '.join(_yaml(c) for c in ids)}]   # a different value per row")
    lines.append(f"missing: {'impute' if gaps else 'error'}")
    config = root / "conf" / "data" / f"{name}.yaml"
    from mbegu.io import atomic_write_text

    _dvc_add(root, data_dir)  # first: if it fails, conf/ and params.yaml are untouched
    atomic_write_text(config, "\n".join(lines) + "\n")
    main = root / "conf" / "config.yaml"
    chosen = _choice(main.read_text(), "model")
    model = model_for(text is not None, chosen)
    if use:  # the pipeline's defaults: `dvc repro` trains this data with a model that reads it
        use_config(root, name, model)
        return Added(config, folder, model, "dvc repro")
    picked = f" model={model}" if model != chosen else ""
    return Added(config, folder, model, f"mbegu train data={name}{picked}")


def use_config(root: Path, name: str, model: str) -> None:
    """Make data `name` and `model` conf/config.yaml's defaults and recompose params.yaml."""
    from mbegu.config.params import write_params
    from mbegu.io import atomic_write_text

    main = root / "conf" / "config.yaml"
    atomic_write_text(main, _choose(_choose(main.read_text(), "data", name), "model", model))
    write_params(root / "params.yaml", root)


def _choice(config: str, group: str) -> str | None:
    """conf/config.yaml's option for a group (`- model: mlp`), None when it has none."""
    found = re.search(rf"(?m)^\s*- {group}: (\S+)", config)
    return found.group(1) if found else None


def _choose(config: str, group: str, option: str) -> str:
    """conf/config.yaml with a group's option replaced, its comments kept."""
    return re.sub(rf"(?m)^(\s*- {group}: )\S+", rf"\g<1>{option}", config, count=1)


def _is_row_id(column: pd.Series) -> bool:
    """Whole numbers or codes unique on every row (an id, a phone number): no pattern to learn.

    Measurements (floats) are unique too, and kept.
    """
    import pandas as pd

    if not (column.notna().all() and column.nunique() == len(column) > 20):
        return False
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.isna().all():  # codes: phone numbers, names
        return True
    # Whole numbers that count rows (0..n-1, 1..n): an index. Other unique integers (incomes,
    # timestamps) may be measurements and are kept.
    whole = numbers.notna().all() and (numbers % 1 == 0).all()
    return bool(whole and numbers.max() - numbers.min() + 1 == len(numbers))


def _yaml(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _dvc_add(root: Path, data_dir: Path) -> None:
    """Version the data folder (data.dvc for data/), and say where `dvc push` would send it."""
    folder = data_dir.relative_to(root).as_posix()
    try:
        done = subprocess.run(
            ["dvc", "add", folder], cwd=root, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise MbeguError("dvc is not on PATH: activate the project's .venv") from None
    if done.returncode:
        raise MbeguError(f"`dvc add {folder}` failed: {done.stderr.strip()[:200]}")
    remote = subprocess.run(
        ["dvc", "remote", "default"], cwd=root, capture_output=True, text=True, check=False
    ).stdout.strip()
    if remote in ("", "local"):
        print(
            "warning: your data is versioned but `dvc push` would copy it into .dvc/storage, "
            "inside this git repository (the example's remote). Give the project its own "
            "remote first: dvc remote add -d storage <s3://, gs://, ssh:// or a shared folder>",
            flush=True,
        )
