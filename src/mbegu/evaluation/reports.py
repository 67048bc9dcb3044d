"""Turning test predictions into metrics, a confusion matrix and files DVC can plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mbegu.io import atomic_write_json, atomic_write_text


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> dict[str, float]:
    """Recall of each class: the share of its rows predicted right."""
    totals = matrix.sum(axis=1)
    return {
        str(c): float(matrix[c, c] / totals[c]) if totals[c] else 0.0 for c in range(len(matrix))
    }


def write_reports(
    reports_dir: Path, metrics: dict, labels: np.ndarray, preds: np.ndarray, matrix: np.ndarray
) -> dict[str, Path]:
    """metrics.json (DVC metrics), confusion.csv (DVC confusion plot), confusion_matrix.png."""
    files = {
        "metrics": reports_dir / "metrics.json",
        "confusion_csv": reports_dir / "confusion.csv",
        "confusion_png": reports_dir / "confusion_matrix.png",
    }
    rows = "".join(f"{a},{p}\n" for a, p in zip(labels.tolist(), preds.tolist(), strict=True))
    atomic_write_text(files["confusion_csv"], "actual,predicted\n" + rows)
    _plot_confusion(matrix, files["confusion_png"])
    atomic_write_json(files["metrics"], metrics)
    return files


def write_predictions(
    path: Path, labels: np.ndarray, probs: np.ndarray, classes: list[str]
) -> None:
    """Per test row: label, prediction and one probability per class (a DVC-cached output)."""
    header = ",".join(["label", "prediction", *(f"prob_{c}" for c in classes)])
    preds = probs.argmax(axis=1)
    lines = [
        ",".join([classes[y], classes[p], *(f"{v:.6g}" for v in row)])
        for y, p, row in zip(labels.tolist(), preds.tolist(), probs.tolist(), strict=True)
    ]
    atomic_write_text(path, "\n".join([header, *lines]) + "\n")


def _plot_confusion(matrix: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
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
