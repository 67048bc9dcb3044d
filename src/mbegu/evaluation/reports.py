"""Turning test predictions into metrics, a confusion matrix and files DVC can plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mbegu.io import atomic_write_json, atomic_write_text


def test_metrics(labels: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """scikit-learn's metrics of the test split's predictions.

    Accuracy, macro and weighted F1, log loss, ROC AUC for two classes, and precision / recall /
    F1 / support per class name.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    k = len(classes)
    preds = probs.argmax(axis=1)
    every = list(range(k))
    picked = probs[np.arange(len(labels)), labels] if len(labels) else np.ones(1)
    metrics: dict[str, Any] = {
        "acc": accuracy_score(labels, preds),
        "f1_macro": f1_score(labels, preds, labels=every, average="macro", zero_division=0),
        "f1_weighted": f1_score(labels, preds, labels=every, average="weighted", zero_division=0),
        "loss": float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()),
    }
    if k == 2 and len(set(labels.tolist())) == 2:
        from sklearn.metrics import roc_auc_score

        metrics["roc_auc"] = roc_auc_score(labels, probs[:, 1])
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, preds, labels=every, zero_division=0
    )
    metrics = {key: round(float(value), 6) for key, value in metrics.items()}
    metrics["per_class"] = {
        name: {
            "precision": round(float(precision[i]), 6),
            "recall": round(float(recall[i]), 6),
            "f1": round(float(f1[i]), 6),
            "support": int(support[i]),
        }
        for i, name in enumerate(classes)
    }
    return metrics


def write_reports(
    reports_dir: Path,
    metrics: dict[str, Any],
    labels: np.ndarray,
    preds: np.ndarray,
    classes: list[str],
) -> dict[str, Path]:
    """The `evaluate` stage's reports, all labelled with class names.

    metrics.json (DVC metrics), confusion.csv (DVC confusion plot), confusion_matrix.png.
    """
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(labels, preds, labels=list(range(len(classes))))
    files = {
        "metrics": reports_dir / "metrics.json",
        "confusion_csv": reports_dir / "confusion.csv",
        "confusion_png": reports_dir / "confusion_matrix.png",
    }
    pairs = zip(labels.tolist(), preds.tolist(), strict=True)
    rows = "".join(f"{_csv(classes[a])},{_csv(classes[p])}\n" for a, p in pairs)
    atomic_write_text(files["confusion_csv"], "actual,predicted\n" + rows)
    _plot_confusion(matrix, classes, files["confusion_png"])
    atomic_write_json(files["metrics"], metrics)
    return files


def write_predictions(
    path: Path,
    labels: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    files: list[str] | None = None,
) -> None:
    """Per test row: label, prediction and one probability per class (a DVC-cached output).

    `files` (an image model's test images, relative to the project) come first as a `path`
    column, so a mistake in the misclassified grid can be found and its label fixed.
    """
    from mbegu.models.answers import PREDICTION, probability_column

    first = ["path"] if files is not None else []
    header = ",".join([*first, "label", PREDICTION, *map(_csv, map(probability_column, classes))])
    preds = probs.argmax(axis=1)
    lines = [
        ",".join([_csv(classes[y]), _csv(classes[p]), *(f"{v:.6g}" for v in row)])
        for y, p, row in zip(labels.tolist(), preds.tolist(), probs.tolist(), strict=True)
    ]
    if files is not None:
        lines = [f"{_csv(f)},{line}" for f, line in zip(files, lines, strict=True)]
    atomic_write_text(path, "\n".join([header, *lines]) + "\n")


def _csv(text: str) -> str:
    """A class name or path as one CSV field (quoted when it holds a comma or a quote)."""
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _plot_confusion(matrix: np.ndarray, classes: list[str], path: Path) -> None:
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    # A class name in a script the bundled font lacks (e.g. Ethiopic) still plots, as boxes.
    warnings.filterwarnings("ignore", "Glyph .* missing from")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ax.set(
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix (test split)",
        xticks=range(len(matrix)),
        yticks=range(len(matrix)),
    )
    ax.set_xticklabels(classes, rotation=45 if max(map(len, classes)) > 3 else 0, ha="right")
    ax.set_yticklabels(classes)
    high = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(count),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if count > high else "black",
        )
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(path)
