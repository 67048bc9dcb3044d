"""`mbegu compare`: the DVC experiments side by side in 120 columns.

`dvc exp show` has a column for every param in params.yaml (the `_target_`s and `_partial_`s
included) and every metric (40 per-class ones for ten classes): 400+ characters wide, and its
`--drop`/`--keep` cannot be set as defaults. This reads the same data (`dvc exp show --json`)
and keeps what tells experiments apart: the params each changed from its baseline commit, the
key test metrics and the MLflow run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError

WIDTH = 120
METRICS = ("acc", "f1_macro", "loss")  # from reports/metrics.json's "test"
PARAMS_FILE, METRICS_FILE, RUN_FILE = "params.yaml", "reports/metrics.json", "reports/run.json"


def compare(every_commit: bool = False) -> str:
    """The table for HEAD's experiments (`every_commit`: every commit's, as `dvc exp show -A`)."""
    rows: list[tuple[str, dict[str, Any], str]] = []
    commits = _exp_show(every_commit)
    for commit in commits:
        if commit.get("rev") == "workspace":
            continue
        base = _data(commit)
        base_params = _flat(_file(base, "params", PARAMS_FILE))
        rows.append((commit.get("name") or str(commit.get("rev", ""))[:7], base, "(baseline)"))
        for experiment in commit.get("experiments") or []:
            for rev in experiment.get("revs") or []:
                data = _data(rev)
                changed = _changed(base_params, _flat(_file(data, "params", PARAMS_FILE)))
                rows.append((str(rev.get("name") or rev.get("rev", ""))[:24], data, changed))
    if not any(commit.get("experiments") for commit in commits):
        return "no DVC experiments yet: `dvc exp run -S trainer.max_epochs=10` makes one"
    return _table(rows)


def _exp_show(every_commit: bool) -> list[dict[str, Any]]:
    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    command = [dvc, "exp", "show", "--json", "--no-fetch", *(["-A"] if every_commit else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MbeguError(f"`dvc exp show` failed ({said}): run it inside the project")
    try:
        shown = json.loads(done.stdout or "[]")
    except ValueError as err:
        raise MbeguError(f"`dvc exp show --json` printed no JSON ({err})") from None
    return shown if isinstance(shown, list) else []


def _data(rev: Mapping[str, Any]) -> dict[str, Any]:
    data = rev.get("data")
    return data if isinstance(data, dict) else {}


def _file(data: Mapping[str, Any], kind: str, name: str) -> dict[str, Any]:
    """One params or metrics file's content in a rev's data (empty when it failed)."""
    found = (data.get(kind) or {}).get(name) or {}
    content = found.get("data") if isinstance(found, dict) else None
    return content if isinstance(content, dict) else {}


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _changed(base: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """`key=value` for each param that differs from the baseline.

    A class (`_target_`) shows as its short name (`model.net=CNN`); `_partial_` is left out.
    """
    shown = []
    for key in sorted(set(base) | set(params)):
        value = params.get(key, "-")
        if base.get(key, "-") == value or key.endswith("._partial_"):
            continue
        if key.endswith("._target_") and isinstance(value, str):
            key, value = key.removesuffix("._target_"), value.rsplit(".", 1)[-1]
        shown.append(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
    return ", ".join(shown) or "(same params)"


def _table(rows: list[tuple[str, dict[str, Any], str]]) -> str:
    name_width = max(len("experiment"), *(len(name) for name, _, _ in rows))
    header = [f"{'experiment':<{name_width}}", *(f"{m:>8}" for m in METRICS), f"{'run':<32}"]
    fixed = len("  ".join(header)) + 2
    room = max(WIDTH - fixed, 20)
    lines = ["  ".join([*header, "changed params"])]
    for name, data, changed in rows:
        test = _file(data, "metrics", METRICS_FILE).get("test") or {}
        run = _file(data, "metrics", RUN_FILE).get("mlflow_run_id") or "-"
        cells = [f"{name:<{name_width}}"]
        cells += [f"{_number(test.get(m)):>8}" for m in METRICS]
        cells.append(f"{run:<32}")
        wrapped = textwrap.wrap(changed, room, break_on_hyphens=False) or [""]
        lines.append("  ".join([*cells, wrapped[0]]))
        lines += [" " * fixed + more for more in wrapped[1:]]
    return "\n".join(line.rstrip() for line in lines)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"
