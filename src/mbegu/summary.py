"""What a command says when it ends: a few lines that fit a 100-column terminal.

The key numbers, where the model is and a link that opens the run in the MLflow UI; the full
tables stay where they are browsed (reports/metrics.json, `dvc metrics show`, the MLflow UI).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mbegu.security import mask_secrets

WIDTH = 100
# Where `mbegu ui` (and `make ui`) serves a local store.
UI = "http://127.0.0.1:5000"
# MLflow 3's UI opens an experiment or a run in its GenAI view unless the link carries this
# query parameter (the browser remembers it afterwards); the experiment's
# mlflow.experimentKind tag alone does not change that default.
TRAINING_VIEW = "workflowType=machine_learning"
# The test metrics a summary shows, in this order (roc_auc for two classes only).
KEY_TEST_METRICS = ("acc", "f1_macro", "roc_auc", "loss")


def ui_base(tracking_uri: str) -> str:
    """The UI that shows a store's runs.

    A tracking server serves its own; a local store is served by `mbegu ui`.
    """
    if tracking_uri.startswith(("http://", "https://")):
        return mask_secrets(tracking_uri).rstrip("/")
    return UI


def experiment_link(base: str, experiment_id: str) -> str:
    """The experiment's runs list, in the training view."""
    return f"{base}/#/experiments/{experiment_id}?{TRAINING_VIEW}"


def run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The run's page, in the training view: the URL form the UI itself uses for a run."""
    base = ui_base(tracking_uri)
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?{TRAINING_VIEW}"


def fit(line: str, indent: str = "  ") -> list[str]:
    """A line wrapped to WIDTH at spaces; a word longer than that (a URL) stays whole."""
    return textwrap.wrap(
        line, WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def metrics_line(label: str, metrics: Mapping[str, Any], keys: Iterable[str]) -> str:
    """`label: k v  k v ...` for the keys present, four decimals."""
    shown = "  ".join(f"{k} {float(metrics[k]):.4f}" for k in keys if k in metrics)
    return f"{label}: {shown}"


def baseline_line(baseline: Mapping[str, Any], metric: str = "acc") -> str:
    """`baselines: majority 0.1004  logreg 0.9703  hgb 0.9740 (acc)`: one score of each.

    Args:
        baseline: {baseline: {metric: value}}, as reports/metrics.json holds it.
        metric: The score shown.

    Returns:
        One line; a baseline without that score is left out.
    """
    from mbegu.config.schema import BASELINES

    order = {name: i for i, name in enumerate(BASELINES)}
    names = sorted(baseline, key=lambda name: (order.get(name, len(order)), name))
    shown = "  ".join(
        f"{name} {float(baseline[name][metric]):.4f}"
        for name in names
        if isinstance(baseline[name], Mapping) and metric in baseline[name]
    )
    return f"baselines: {shown} ({metric})"


def link_lines(link: str) -> list[str]:
    """The run's link on a line of its own (a terminal opens it on a click).

    It comes after a line that says how to open it.
    """
    local = link.startswith(f"{UI}/")
    how = "the run in MLflow" + (" (after `make ui` or `mbegu ui`)" if local else "") + ":"
    return [how, link]


def show(lines: Iterable[str]) -> None:
    """Print the lines, each wrapped to WIDTH."""
    for line in lines:
        print("\n".join(fit(line)) or "", flush=True)


def pipeline_summary(root: Path, tracking_uri: str, experiment_name: str) -> list[str]:
    """What `make run` ends on: the test metrics, where the model is, the pipeline's run.

    The test metrics come with baselines when reports/metrics.json holds them; the run is the
    pipeline's in MLflow.
    """
    metrics_file = root / "reports" / "metrics.json"
    try:
        metrics = json.loads(metrics_file.read_text())
    except (OSError, ValueError):
        return ["no test metrics yet (reports/metrics.json): run `dvc repro`"]
    test = metrics.get("test") or {}
    lines = [metrics_line("test", test, KEY_TEST_METRICS)]
    baseline = metrics.get("baseline")
    if isinstance(baseline, Mapping) and baseline:
        lines.append(baseline_line(baseline))
    lines.append("model: artifacts/model/  (mbegu predict ROWS.csv)")
    lines.append("all metrics: reports/metrics.json  plots: dvc plots show")
    link = _pipeline_run_link(root, tracking_uri, experiment_name)
    if link:
        lines += link_lines(link)
    return lines


def _pipeline_run_link(root: Path, tracking_uri: str, experiment_name: str) -> str | None:
    """The link to the run that trained artifacts/model (artifacts/run.json names it).

    Else the link to the experiment, when the store does not hold that run.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        run_id = json.loads((root / "artifacts" / "run.json").read_text()).get("mlflow_run_id")
    except (OSError, ValueError, AttributeError):
        run_id = None
    client = MlflowClient(tracking_uri)
    try:
        if run_id:
            run = client.get_run(str(run_id))
            return run_link(tracking_uri, run.info.experiment_id, run.info.run_id)
    except MlflowException:
        pass  # a run of another store (a clone's, a teammate's): the experiment, then
    try:
        experiment = client.get_experiment_by_name(experiment_name)
    except MlflowException:
        experiment = None
    if experiment is None:
        return None
    return experiment_link(ui_base(tracking_uri), experiment.experiment_id)
