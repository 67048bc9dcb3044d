"""Names of test metrics in MLflow, and the rule that moves the registered model's alias.

A registered version gets the alias (e.g. `candidate`) only when its test metric clears
tracking.promote_if: above chance, a fixed bar, the best baseline on the same split, or the
version that holds the alias now.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mbegu.tracking.tracker import MlflowTracker


def test_metric_key(metric: str) -> str:
    """The MLflow name of a test metric: `test_acc`, not `test/acc`.

    The run page's "Model metrics" tab groups charts by the prefix before a `/`, sections in
    alphabetical order, and puts metrics without a prefix last: `test/...` would come before the
    `train/` and `val/` curves, `test_...` comes after them.
    """
    return f"test_{metric}"


def promote(
    tracker: MlflowTracker,
    run_id: str,
    version: str,
    test: dict[str, float],
    labels: np.ndarray,
    baseline: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """Point the alias at `version` only if its test metric clears tracking.promote_if.

    Args:
        tracker: The run's tracker: its registered model name, alias and rule.
        run_id: The run that logged the version; it gets the outcome as a tag.
        version: The registered version.
        test: The model's test metrics.
        labels: The test split's labels (chance is the majority class's share).
        baseline: The baselines' scores on the same split ({name: {metric: value}}), the bar
            for `above: baseline`.

    Returns:
        The line that says whether the alias moved, and what the metric had to beat.
    """
    # A registered version comes here only: the model has a name.
    name = cast(str, tracker.registered_model_name)
    client, alias = tracker.client, tracker.model_alias
    if not alias:
        return f"registered {name} v{version} (no alias configured)"
    rule = tracker.promote_if or {}
    metric = rule.get("metric", "acc")
    value = float(test[metric])
    key = test_metric_key(metric)
    bar, what = _bar(client, name, alias, metric, rule.get("above"), labels, baseline or {})
    if bar is None or value > bar:
        client.set_registered_model_alias(name, alias, version)
        shown = f"{key} {value:.4f} > {what} {bar:.4f}" if bar is not None else "no bar"
        line = f"promoted: {name} v{version} is now @{alias} ({shown})"
    else:
        line = (
            f"not promoted: {name} v{version} is registered but @{alias} stays where it was: "
            f"{key} {value:.4f} is not above {what} {bar:.4f} (tracking.promote_if)"
        )
    client.set_tag(run_id, "mbegu.promotion", line)
    return line


def _bar(
    client: MlflowClient,
    name: str,
    alias: str,
    metric: str,
    above: float | str | None,
    labels: np.ndarray,
    baseline: Mapping[str, Mapping[str, float]],
) -> tuple[float | None, str]:
    """The value to beat and what it is."""
    chance = float(np.bincount(labels).max() / max(len(labels), 1))
    if above is None:
        return None, ""
    if above == "chance":
        return chance, "chance"
    if above == "baseline":
        from mbegu.evaluation.baselines import best_baseline

        best = best_baseline(baseline, metric)
        if best is None:
            return chance, "chance (evaluate.baselines scored none)"
        return best[1], f"baseline {best[0]}"
    if above == "candidate":
        from mlflow.exceptions import MlflowException

        try:
            current = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return chance, "chance (no current candidate)"
        run_id = cast(str, current.run_id)  # Optional to MLflow; mbegu registers from runs
        value = client.get_run(run_id).data.metrics.get(test_metric_key(metric))
        if value is None:
            return chance, "chance (the candidate has no test metric)"
        return float(value), f"the current @{alias} (v{current.version})"
    return float(above), "the bar"
