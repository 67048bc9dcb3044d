"""The pipeline's outputs against the committed ones: the same bytes, or what changed and why.

The same commit, data, config, CPU kind and torch thread count give the same bytes. Another
CPU runs other floating-point kernels (AVX2, AVX-512, Arm NEON sum in other orders), and so
does another thread count: the weights drift in their last digits from a few epochs on, and
the model's md5, history.csv and the metrics' last digits differ. What stays is the result:
the overall test metrics within TOLERANCE of the committed ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mbegu.git import git

# Across CPUs and thread counts: the overall test metrics within this much (absolute) of the
# committed ones (about five of the digits example's 539 test rows predicted otherwise).
TOLERANCE = 0.01
OVERALL = ("acc", "f1_macro", "f1_weighted", "loss")
WATCHED = ("dvc.lock", "reports")


@dataclass
class Comparison:
    """What `dvc repro` changed among the committed outputs, and whether its inputs changed."""

    changed_files: list[str] = field(default_factory=list)
    changed_inputs: list[str] = field(default_factory=list)  # stages whose deps/params changed
    metrics: dict[str, tuple[float, float]] = field(default_factory=dict)  # now, committed

    @property
    def identical(self) -> bool:
        """Whether every committed output came out byte for byte the same."""
        return not self.changed_files

    @property
    def largest_difference(self) -> float:
        """The largest absolute difference of an overall test metric from the committed one."""
        return max((abs(a - b) for a, b in self.metrics.values()), default=0.0)

    @property
    def within_tolerance(self) -> bool:
        """Whether every overall test metric is within TOLERANCE of the committed one."""
        return self.largest_difference <= TOLERANCE


def _stage_inputs(lock: dict[str, Any]) -> dict[str, Any]:
    """Each stage's deps (path and md5) and params: what decides its outputs.

    Deps that are another stage's outputs are left out: a model with other last bits is not a new
    input.
    """
    stages = (lock.get("stages") or {}).items()
    produced = {o["path"] for _, stage in stages for o in stage.get("outs") or []}
    inputs = {}
    for name, stage in stages:
        deps = stage.get("deps") or []
        own = sorted((d["path"], d.get("md5")) for d in deps if d["path"] not in produced)
        inputs[name] = (own, stage.get("params"))
    return inputs


def overall_metrics(text: str | None) -> dict[str, float]:
    """The overall test metrics of a metrics.json text (none if it cannot be read)."""
    try:
        test = json.loads(text or "")["test"]
    except (ValueError, KeyError, TypeError):
        return {}
    return {k: float(test[k]) for k in OVERALL if isinstance(test.get(k), int | float)}


def compare(root: Path, metrics_file: str = "reports/metrics.json") -> Comparison | None:
    """Compare the working tree's dvc.lock and reports with HEAD's; None outside git."""
    status = git(root, "status", "--porcelain", "--", *WATCHED)
    committed_lock = git(root, "show", "HEAD:dvc.lock")
    if status is None or committed_lock is None:
        return None
    found = Comparison(changed_files=sorted(line[3:] for line in status.splitlines() if line))
    if found.identical:
        return found
    lock_file = root / "dvc.lock"
    now = _stage_inputs(yaml.safe_load(lock_file.read_text()) if lock_file.is_file() else {})
    before = _stage_inputs(yaml.safe_load(committed_lock) or {})
    found.changed_inputs = sorted(s for s in now if now[s] != before.get(s))
    committed = overall_metrics(git(root, "show", f"HEAD:{metrics_file}"))
    path = root / metrics_file
    current = overall_metrics(path.read_text() if path.is_file() else None)
    found.metrics = {k: (current[k], committed[k]) for k in current if k in committed}
    return found


def report(found: Comparison | None, machine: str) -> tuple[list[str], bool]:
    """Lines for the terminal, and whether all is as the docs promise."""
    if found is None:
        return ["outputs: not a git checkout, nothing to compare with"], True
    if found.identical:
        return ["outputs: the same bytes as committed (dvc.lock, reports/)"], True
    changed = ", ".join(found.changed_files)
    if found.changed_inputs:
        stages = ", ".join(found.changed_inputs)
        return [f"outputs: new results, as the inputs of {stages} changed ({changed})"], True
    shown = ", ".join(f"{k} {a:.6g} (committed {b:.6g})" for k, (a, b) in found.metrics.items())
    lines = [
        f"outputs: same inputs, other bytes than committed: {changed}",
        f"  test metrics: {shown or 'none to compare'}",
    ]
    if found.within_tolerance:
        lines += [
            f"  within {TOLERANCE} of the committed ones: the committed outputs came from "
            f"another CPU kind or thread count ({machine} here), whose float sums differ",
            "  in the last digits. Keep them: git checkout dvc.lock reports  (or commit yours)",
        ]
        return lines, True
    lines.append(
        f"  differ by {found.largest_difference:.4g}, more than the {TOLERANCE} that another "
        "CPU explains: check the data (dvc status) and the installed versions (make install)"
    )
    return lines, False


def describe_machine() -> str:
    """This machine's torch CPU kernels and threads, e.g. 'AVX2 kernels, 2 threads'."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    return f"{capability} kernels, {torch.get_num_threads()} threads"
