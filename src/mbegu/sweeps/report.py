"""What a sweep reports: the summary it prints, and what its parent MLflow run records.

The run gets the counts, best value, best config and Optuna's plots.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from mbegu.sweeps import storage as trials
from mbegu.sweeps.best import write_best_config

if TYPE_CHECKING:
    import optuna

    from mbegu.tracking.tracker import MlflowTracker


def summarize(
    study: optuna.Study, cfg: DictConfig, overrides: Sequence[str], seconds: float
) -> dict[str, Any]:
    """The sweep's summary: trial counts and time, and the best trial with its config written.

    Args:
        study: The sweep's study.
        cfg: The sweep's composed config.
        overrides: The command's overrides, the best config's base.
        seconds: The sweep's wall time.

    Returns:
        The summary, as format_summary prints it and log_summary logs it.
    """
    c = trials.counts(study)
    summary: dict[str, Any] = {
        "study": cfg.sweep.study_name,
        "metric": cfg.sweep.metric,
        "counts": c,
        "wall_s": round(seconds, 1),
    }
    try:
        best = study.best_trial
    except ValueError:
        return summary
    summary |= {
        "best_value": best.value,
        "best_trial": best.number,
        "best_overrides": best.user_attrs.get("overrides", []),
    }
    summary["best_config"] = str(write_best_config(cfg, overrides, best))
    return summary


def log_summary(
    tracker: MlflowTracker,
    run_id: str,
    study: optuna.Study,
    cfg: DictConfig,
    summary: dict[str, Any],
) -> None:
    """Log the summary on the parent run: counts and best value as metrics, best config, plots.

    Args:
        tracker: The sweep's tracker.
        run_id: The parent run.
        study: The sweep's study.
        cfg: The sweep's composed config.
        summary: What summarize returned.
    """
    client = tracker.client
    metrics = {f"trials_{k.replace(' ', '_')}": v for k, v in summary["counts"].items()}
    if "best_value" in summary:
        metrics[f"best/{cfg.sweep.metric}"] = summary["best_value"]
        client.set_tag(run_id, "mbegu.sweep.best_trial", str(summary["best_trial"]))
        client.log_artifact(run_id, summary["best_config"], "best")
    tracker.log_metrics(run_id, metrics, step=len(study.trials))
    for path in _plots(study).values():
        client.log_artifact(run_id, str(path), "plots")
        path.unlink(missing_ok=True)


@contextmanager
def _absent_stays_absent(package: str) -> Iterator[None]:
    """Keep `package` reading as not installed while Optuna imports.

    Works around optuna.importance importing scikit-learn (slow to import) for its fANOVA and MDI
    evaluators as soon as it is imported, though PED-ANOVA, the evaluator drawn here, needs none of
    it: while Optuna imports, a `package` not yet imported reads as not installed (Optuna defers
    that error to those evaluators). Afterwards it imports as usual.
    """
    if package in sys.modules:
        yield
        return
    sys.modules[package] = None  # type: ignore[assignment]  # None: an import fails as absent
    try:
        yield
    finally:
        if sys.modules.get(package, ...) is None:
            del sys.modules[package]


def _plots(study: optuna.Study) -> dict[str, Path]:
    """Optimisation history and parameter importances as PNGs (what enough trials allow)."""
    import tempfile
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna

    with _absent_stays_absent("sklearn"):
        import optuna.importance
        from optuna.visualization import matplotlib as optuna_plots

    out: dict[str, Path] = {}
    if not any(t.state.name == "COMPLETE" for t in study.get_trials(deepcopy=False)):
        return out
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="mbegu-sweep-"))
    importances = functools.partial(
        optuna_plots.plot_param_importances,
        evaluator=optuna.importance.PedAnovaImportanceEvaluator(),  # needs no scikit-learn
    )
    for name, plot in (
        ("optimization_history", optuna_plots.plot_optimization_history),
        ("param_importances", importances),
    ):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # e.g. importances need two complete trials
        figure = getattr(axes, "figure", None) or plt.gcf()
        path = folder / f"{name}.png"
        figure.set_size_inches(7, 4.5)
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
        out[name] = path
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as the lines a sweep ends on, between rules."""
    c = summary["counts"]
    lines = [
        f"study {summary['study']}: {c['complete']} complete, {c['pruned']} pruned, "
        f"{c['failed']} failed ({c['not counted']} retried or interrupted), "
        f"{summary['wall_s']} s",
    ]
    if "best_value" in summary:
        lines += [
            f"best {summary['metric']}: {summary['best_value']:.4f} "
            f"(trial {summary['best_trial']})",
            f"best params: {' '.join(summary['best_overrides'])}",
            f"best config: {summary['best_config']}",
            f"retrain it: mbegu train experiment={Path(summary['best_config']).stem}  or  "
            f"dvc exp run -S experiment={Path(summary['best_config']).stem}",
        ]
    width = min(100, max(len(line) for line in lines))
    return "\n".join(["-" * width, *lines, "-" * width])
