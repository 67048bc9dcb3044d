"""train(cfg) and evaluate(cfg) on the real stack: Lightning fits, MLflow records, nothing
is left RUNNING or half-written when something goes wrong."""

from __future__ import annotations

import time

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch

from mbegu.config.compose import compose
from mbegu.data.split import load_split
from mbegu.errors import MbeguError
from mbegu.evaluation.evaluate import evaluate
from mbegu.training.artifacts import load_model, read_run_info
from mbegu.training.train import train

from .conftest import FAST, runs_of

pytestmark = pytest.mark.usefixtures("no_running_runs")


class Boom(pl.Callback):
    """Raises at the start of an epoch, as a crash or Ctrl-C in the middle of training would."""

    def __init__(self, error: BaseException, epoch: int = 1) -> None:
        self.error, self.epoch = error, epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise self.error


def test_train_records_one_finished_run(project, client, experiment) -> None:
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}", "model.optimizer.lr=0.004"])
    result = train(cfg)

    [run] = runs_of(client, experiment)
    assert run.info.run_id == result.run_id
    assert run.info.status == "FINISHED"
    assert run.data.params["model.optimizer.lr"] == "0.004"
    assert run.data.params["model.net._target_"] == "mbegu.models.networks.MLP"
    assert run.data.tags["mbegu.model"] == "MLP"
    assert run.data.tags["mbegu.data.md5"].endswith(".dir")
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert [m.step for m in history] == [0, 1, 2]  # one point per epoch, epoch as the step
    assert {"train/loss", "train/acc", "val/loss", "val/acc_best"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "config.yaml" in artifacts

    model_dir = project / "artifacts" / "model"
    assert read_run_info(model_dir)["run_id"] == result.run_id
    _, saved_cfg = load_model(model_dir)
    assert saved_cfg["model"]["optimizer"]["lr"] == 0.004
    history = pd.read_csv(project / "reports" / "history.csv")
    assert list(history.epoch) == [0, 1, 2]
    for name in ("train/loss", "train/acc", "val/acc"):  # each row is its own epoch's values
        logged = [m.value for m in client.get_metric_history(run.info.run_id, name)]
        np.testing.assert_allclose(history[name], logged, rtol=1e-5)
    checkpoints = list((project / "checkpoints" / result.run_id).glob("*.ckpt"))
    assert {p.name for p in checkpoints} >= {"best.ckpt", "last.ckpt"}


def test_same_config_same_metrics(project, experiment) -> None:
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    first = train(cfg, write_outputs=False)
    second = train(cfg, write_outputs=False)
    assert first.history == second.history
    assert first.metrics["val/acc"] == second.metrics["val/acc"]


def test_crash_marks_run_failed_and_writes_nothing(project, client, experiment) -> None:
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    with pytest.raises(RuntimeError, match="loss went NaN"):
        train(cfg, callbacks=[Boom(RuntimeError("loss went NaN"))])
    [run] = runs_of(client, experiment)
    assert run.info.status == "FAILED"
    assert run.data.tags["mbegu.error"] == "loss went NaN"
    assert not (project / "artifacts" / "model").exists()


def test_ctrl_c_marks_run_killed(project, client, experiment) -> None:
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train(cfg, callbacks=[Boom(KeyboardInterrupt())])
    [run] = runs_of(client, experiment)
    assert run.info.status == "KILLED"


def test_unreachable_server_fails_fast(project, client, experiment, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    started = time.monotonic()
    with pytest.raises(MbeguError, match=r"http://127.0.0.1:9 is unreachable.*unset"):
        train(cfg)
    assert time.monotonic() - started < 10
    assert not (project / "artifacts").exists()


def test_evaluate_completes_the_same_run(project, client, experiment) -> None:
    cfg = compose(
        [*FAST, f"tracking.experiment_name={experiment}", "tracking.registered_model_name=null"]
    )
    result = train(cfg)
    metrics = evaluate(cfg)

    [run] = runs_of(client, experiment)  # still one run: evaluate reopened train's
    assert run.info.run_id == result.run_id == metrics["mlflow_run_id"]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/acc"] == pytest.approx(metrics["test"]["acc"])
    assert 0 <= run.data.metrics["test/f1_macro"] <= 1
    assert len(metrics["test"]["per_class_acc"]) == 10
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert "plots/confusion_matrix.png" in plots
    confusion = pd.read_csv(project / "reports" / "confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"]
    assert (confusion.actual == confusion.predicted).mean() == pytest.approx(
        metrics["test"]["acc"], abs=1e-6
    )

    model = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    features, labels = load_split(project / "artifacts" / "processed" / "test.csv")
    frame = pd.DataFrame(features.astype(np.float64), columns=[f"pixel_{i}" for i in range(64)])
    probs = np.asarray(model.predict(frame))
    assert probs.shape == (len(labels), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    net, _ = load_model(project / "artifacts" / "model")
    with torch.no_grad():
        expected = torch.softmax(net(torch.from_numpy(features)), -1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
