"""The epoch metrics the Classifier logs, against scikit-learn's, and the monitor that uses them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from mbegu.config.compose import compose
from mbegu.data.split import read_split, split_file
from mbegu.data.stage import prepare
from mbegu.models.metrics import EpochScores
from mbegu.models.saved import load_model
from mbegu.training.train import train

from .helpers.project import FAST


def test_scores_match_scikit_learn_over_batches_with_a_class_never_seen() -> None:
    rng = np.random.default_rng(0)
    scores, truth, predicted = EpochScores(num_classes=4), [], []
    for rows in (7, 64, 1, 30):
        target = torch.from_numpy(rng.choice(3, rows, p=[0.6, 0.3, 0.1]))  # class 3: no rows
        logits = torch.from_numpy(rng.normal(size=(rows, 4))).float()
        scores.update(torch.tensor(0.5), logits, target)
        truth += target.tolist()
        predicted += logits.argmax(dim=-1).tolist()
    got = scores.compute()
    assert got["acc"].item() == pytest.approx(accuracy_score(truth, predicted), abs=1e-6)
    expected = f1_score(truth, predicted, average="weighted", zero_division=0)
    assert got["f1_weighted"].item() == pytest.approx(expected, abs=1e-6)
    assert got["f1_weighted"].item() != pytest.approx(got["acc"].item(), abs=1e-3)
    assert got["loss"].item() == pytest.approx(0.5)


def test_the_kept_model_is_the_epoch_with_the_best_val_f1(project, client, experiment) -> None:
    cfg = compose(
        # A step this large overshoots: val F1 falls after the second epoch.
        [*FAST, f"tracking.experiment_name={experiment}", "model.optimizer.lr=0.1"],
        root=project,
    )
    assert cfg.monitor.metric == "val/f1_weighted"  # the default
    prepare(cfg)
    result = train(cfg)

    history = [m.value for m in client.get_metric_history(result.run_id, "val/f1_weighted")]
    assert len(history) == 3
    assert max(history) > history[-1]  # the best epoch is not the last
    assert "train/f1_weighted" not in client.get_run(result.run_id).data.metrics
    saved = load_model(project / "artifacts" / "model")
    val = read_split(split_file(project / "artifacts" / "processed", "val"))
    target = saved.encoder.target
    predicted = np.asarray(saved.classes)[saved.probabilities(val).argmax(axis=1)]
    kept = f1_score(val[target].astype(str), predicted, average="weighted")
    assert kept == pytest.approx(max(history), abs=1e-6)
