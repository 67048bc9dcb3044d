"""evaluate(cfg): test the trained model, complete its MLflow run, register and maybe promote.

It reopens the run that `train` created (its id is in artifacts/run.json), so one pipeline run
stays one MLflow run. Simple baselines (evaluate.baselines) are scored on the same split beside
the model. The `candidate` alias moves only when the test metric clears tracking.promote_if.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from mbegu.errors import MbeguError
from mbegu.evaluation.promotion import promote, test_metric_key
from mbegu.project import project_root

if TYPE_CHECKING:
    from mbegu.tracking.tracker import MlflowTracker


def find_train_run(tracker: MlflowTracker, run_file: Path, digest: str) -> str:
    """The MLflow run that trained the model whose md5 is `digest`.

    The one artifacts/run.json names, else (the train stage was up to date and skipped, e.g. in a
    queued experiment that only changed evaluate's params) the latest run tagged with that md5.
    """
    from mbegu.training.export import TAG_MODEL_MD5

    try:
        link = json.loads(run_file.read_text())
    except (OSError, ValueError):
        link = {}
    if isinstance(link, dict) and link.get("model_md5") == digest and link.get("mlflow_run_id"):
        return str(link["mlflow_run_id"])
    found = tracker.client.search_runs(
        [tracker.experiment_id()],
        filter_string=f"tags.`{TAG_MODEL_MD5}` = '{digest}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not found:
        raise MbeguError(
            f"no MLflow run in experiment '{tracker.experiment_name}' trained the model "
            f"{digest}: "
            f"run `dvc repro -f train`"
        )
    return found[0].info.run_id


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Test metrics to reports/ and to the run; the model logged (and registered) in MLflow."""
    from mbegu.project import resolve_paths
    from mbegu.security import instantiate

    root = project_root()
    paths = resolve_paths(cfg, root)
    if not (paths["model_dir"] / "model.json").is_file():  # fail before heavy imports
        raise MbeguError(f"no model in {paths['model_dir']}: run `dvc repro train`")

    import numpy as np

    from mbegu.config.schema import baseline_names
    from mbegu.data.sources import build_data
    from mbegu.evaluation.baselines import flat_baseline_metrics, score_baselines
    from mbegu.evaluation.card import write_card
    from mbegu.evaluation.images import MISCLASSIFIED, misclassified_grid, score_image_baselines
    from mbegu.evaluation.reports import test_metrics, write_predictions, write_reports
    from mbegu.features.image import IMAGE_COLUMN, ImageEncoder
    from mbegu.models.image_answers import image_probabilities
    from mbegu.models.mlflow_model import log_model
    from mbegu.models.saved import load_model, model_md5
    from mbegu.staging import staged_outputs

    tracker: MlflowTracker = instantiate(cfg.tracking, where="tracking")
    digest = model_md5(paths["model_dir"])
    run_id = find_train_run(tracker, paths["run_file"], digest)
    tracker.require_run(run_id)
    # All of the stage's outputs or none: they move into place once the run's logging is done.
    with tracker.run(run_id), staged_outputs(root, "evaluate") as stage:
        saved = load_model(paths["model_dir"])
        data = build_data(cfg, root)
        data.load()
        # The test split's raw rows through the saved model: exactly what `mbegu predict`
        # and the served MLflow model compute from the same rows.
        frame = data.frames["test"]
        labels = saved.encoder.labels(frame, "the test split")
        if isinstance(saved.encoder, ImageEncoder):  # decoded once: the grid shows them too
            pixels = saved.encoder.pixels(frame, "the test split")
            probs = image_probabilities(saved, pixels)
        else:
            probs = saved.probabilities(frame, "the test split")
        test = test_metrics(labels, probs, saved.classes)
        bad = {k: v for k, v in test.items() if isinstance(v, float) and not math.isfinite(v)}
        if bad:
            raise MbeguError(
                f"test metrics are not finite ({', '.join(f'{k}={v}' for k, v in bad.items())})"
                f": the model is broken; retrain it with a lower model.optimizer.lr"
            )
        preds = probs.argmax(axis=1)
        metrics: dict[str, Any] = {"test": test}
        # The same encoded train and test rows as the model's, through its own encoder.
        names = baseline_names(cfg.get("evaluate"))
        if isinstance(saved.encoder, ImageEncoder):  # the train split from prepare's pixel cache
            train_pixels, train_labels = data.tensors("train")
            train = (np.asarray(train_pixels), np.asarray(train_labels))
            baseline = score_image_baselines(names, train, (pixels, labels), len(saved.classes))
        else:
            baseline = score_baselines(names, saved.encoder, data.frames["train"], frame)
        if baseline:
            metrics["baseline"] = baseline
        reports = stage.files_of(paths["reports_dir"])
        files = write_reports(reports, metrics, labels, preds, saved.classes)
        history = paths["reports_dir"] / "history.csv"
        card = write_card(reports / CARD, cfg, data, saved, metrics, history)
        # Git-ignored and cached by DVC: a fresh clone lacks it, so `dvc repro` evaluates the
        # model that train just made even though the committed reports already match.
        predictions = stage.path(paths["model_dir"].parent / "evaluation")
        photos = None
        if isinstance(saved.encoder, ImageEncoder):  # which photo: to find a mislabelled one
            photos = [Path(os.path.relpath(f, root)).as_posix() for f in frame[IMAGE_COLUMN]]
        write_predictions(
            predictions / "test_predictions.csv", labels, probs, saved.classes, photos
        )
        if isinstance(saved.encoder, ImageEncoder):  # beside the predictions, DVC-cached
            grid = predictions / MISCLASSIFIED
            misclassified_grid(grid, pixels, labels, probs, saved.classes)
        _write_run_link(paths["reports_dir"] / "run.json", reports / "run.json", run_id, digest)

        flat = {**flat_metrics(test), **flat_baseline_metrics(baseline)}
        client = tracker.client
        # Test metrics at the last epoch's step: MLflow links that step's metrics to the
        # logged model, whose page then shows the final and test values, not epoch 0's.
        step = max((m.step for m in client.get_metric_history(run_id, "val/loss")), default=0)
        tracker.log_metrics(run_id, flat, step=step)
        # Per class: one table, not a single-point chart per class and score on the run page.
        # MLflow's log_table appends to a table the run has: a run evaluated again (same
        # model, same split, so the same scores) keeps the one it has.
        tables = {a.path for a in client.list_artifacts(run_id, "tables")}
        if PER_CLASS_TABLE not in tables:
            client.log_table(run_id, per_class_table(test, saved.classes), PER_CLASS_TABLE)
        client.log_dict(run_id, metric_keys(saved.classes), "class_names.json")
        client.log_artifact(run_id, str(files["confusion_png"]), "plots")
        if isinstance(saved.encoder, ImageEncoder):
            client.log_artifact(run_id, str(predictions / MISCLASSIFIED), "plots")
        client.log_artifact(run_id, str(files["metrics"]), "reports")
        client.log_artifact(run_id, str(reports / CARD))
        if history.is_file():
            client.log_artifact(run_id, str(history), "reports")
        register = bool(tracker.registered_model_name)
        version, _ = log_model(
            tracker,
            run_id,
            saved,
            paths["model_dir"],
            data.example_frame(),
            register=register,
            step=step,
        )
        name = tracker.registered_model_name
        if version and name:  # the registry's page shows the card as the version's description
            client.update_model_version(name, version, description=card)
        promotion = promote(tracker, run_id, version, test, labels, baseline) if version else ""
    from mbegu.summary import (
        KEY_TEST_METRICS,
        baseline_line,
        link_lines,
        metrics_line,
        run_link,
        show,
    )

    lines = [metrics_line("test", test, KEY_TEST_METRICS) + f"  ({len(labels)} rows)"]
    if baseline:
        lines.append(baseline_line(baseline))
    if version:
        lines.append(promotion)
    lines += link_lines(run_link(tracker.tracking_uri, tracker.experiment_id(), run_id))
    show(lines)
    return {**metrics, "mlflow_run_id": run_id, "promoted": promotion.startswith("promoted")}


CARD = "model_card.md"  # in reports/ and at the top of the run's artifacts
# The run's per-class scores (MLflow's table artifact: the UI shows it as a table).
PER_CLASS_TABLE = "tables/per_class.json"


def flat_metrics(test: dict[str, Any]) -> dict[str, float]:
    """The run's metrics: test_acc, test_f1_macro ... (per-class scores go to a table)."""
    return {test_metric_key(k): float(v) for k, v in test.items() if not isinstance(v, dict)}


def per_class_table(test: dict[str, Any], classes: list[str]) -> dict[str, list[Any]]:
    """One row per class, in the model's class order: name, key, and its test scores.

    Its key (metric_keys) and its precision, recall, F1 and support on the test split.
    """
    keys = metric_keys(classes)
    per_class = test.get("per_class", {})
    scores = ("precision", "recall", "f1", "support")
    table: dict[str, list[Any]] = {"class": list(classes), "key": [keys[c] for c in classes]}
    for score in scores:
        table[score] = [per_class[c][score] for c in classes]
    return table


def metric_keys(classes: list[str]) -> dict[str, str]:
    """Each class name's key in MLflow metric names.

    Letters, digits and `_-./ ` (the characters MLflow allows in a metric name) are kept, the rest
    become `_`. Names that differ only there (`<50K`, `>50K`) would share a key: a later one gets
    `_2`, `_3`... The run keeps this mapping as class_names.json, and each key beside its class in
    the per-class table.
    """
    import re

    keys: dict[str, str] = {}
    used: set[str] = set()
    for name in classes:
        base = key = re.sub(r"[^\w./ -]", "_", name)
        n = 1
        while key in used:
            n += 1
            key = f"{base}_{n}"
        keys[name] = key
        used.add(key)
    return keys


def _write_run_link(path: Path, out: Path, run_id: str, digest: str) -> None:
    """reports/run.json, the link from a DVC experiment to its MLflow run.

    A column in `dvc exp show`, committed by DVC into each experiment. Plain `dvc repro` writes a
    placeholder with no run id, so a clean clone stays clean, but keeps an experiment's link (after
    `dvc exp apply` and a commit) while the model is still that experiment's. Read from `path`,
    written to `out` (its staged twin).
    """
    from mbegu.io import atomic_write_json

    name = os.environ.get("DVC_EXP_NAME")
    if not name:
        try:
            kept = json.loads(path.read_text())
        except (OSError, ValueError):
            kept = None
        if isinstance(kept, dict) and kept.get("dvc_exp_name") and kept.get("model_md5") == digest:
            return
    link = {"dvc_exp_name": name, "mlflow_run_id": run_id if name else None, "model_md5": digest}
    atomic_write_json(out, link)
