"""train(cfg) and evaluate(cfg) on the real stack: Lightning fits, MLflow records, nothing
is left RUNNING or half-written when something goes wrong."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from mbegu.config.compose import compose
from mbegu.data.datamodule import build_datamodule
from mbegu.data.stage import prepare
from mbegu.errors import MbeguError
from mbegu.evaluation.evaluate import evaluate
from mbegu.models.saved import load_model, model_md5
from mbegu.processes import FULL_COLLECTION_EVERY, collect_between_trials, freeze_imports
from mbegu.training.train import train

from .helpers.cli import per_class_rows, runs_of
from .helpers.project import FAST

pytestmark = pytest.mark.usefixtures("no_running_runs")


class Boom(pl.Callback):
    """Raises at the start of an epoch, as a crash or Ctrl-C in the middle of training would."""

    def __init__(self, error: BaseException, epoch: int = 1) -> None:
        self.error, self.epoch = error, epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise self.error


def test_logger_group_dvclive_beside_mlflow_and_none(project, client, experiment) -> None:
    both = train(compose([*FAST, f"tracking.experiment_name={experiment}", "logger=both"]))
    live = json.loads((project / "reports" / "dvclive" / "metrics.json").read_text())
    assert live["val"]["acc"] == pytest.approx(both.metrics["val/acc"])  # the last epoch
    curve = pd.read_csv(
        project / "reports" / "dvclive" / "plots" / "metrics" / "val" / "acc.tsv", sep="\t"
    )
    mlflow_curve = client.get_metric_history(both.run_id, "val/acc")
    assert [m.step for m in mlflow_curve] == [0, 1, 2]  # MLflow too, one point per epoch
    np.testing.assert_allclose(curve["acc"], [m.value for m in mlflow_curve], rtol=1e-6)
    assert "dvc.yaml" not in {p.name for p in (project / "reports" / "dvclive").iterdir()}

    none = train(compose([*FAST, f"tracking.experiment_name={experiment}", "logger=none"]))
    run = client.get_run(none.run_id)
    assert run.info.status == "FINISHED"
    assert "val/acc" not in run.data.metrics  # no per-epoch logger: no epoch metrics
    assert run.data.params["model.optimizer.lr"]  # the config is logged whatever the logger


def test_debug_profile_saves_lightning_s_report_to_the_run(project, client, experiment) -> None:
    cfg = compose(
        ["debug=profile", "data.batch_size=128", f"tracking.experiment_name={experiment}"]
    )
    result = train(cfg, outputs="none")
    [logged] = client.list_artifacts(result.run_id, "profile")
    assert logged.path == "profile/fit-profile.txt"
    report = client.download_artifacts(result.run_id, logged.path, str(project))
    text = Path(report).read_text(encoding="utf-8")
    assert "FIT Profiler Report" in text and "run_training_epoch" in text
    assert text.count("FIT Profiler Report") == 1  # this run's report only
    plain = train(compose([*FAST, f"tracking.experiment_name={experiment}"]), outputs="none")
    assert not client.list_artifacts(plain.run_id, "profile")


def test_train_records_one_finished_run(project, client, experiment) -> None:
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}", "model.optimizer.lr=0.004"])
    result = train(cfg)

    [run] = runs_of(client, experiment)
    assert run.info.run_id == result.run_id
    assert run.info.status == "FINISHED"
    assert run.data.params["model.optimizer.lr"] == "0.004"
    assert run.data.params["model.net._target_"] == "mbegu.models.networks.MLP"
    assert run.data.tags["mbegu.model"] == "MLP"
    raw_md5 = hashlib.md5((project / "data" / "digits.csv").read_bytes()).hexdigest()
    assert run.data.tags["mbegu.data.md5"] == raw_md5  # the very file the run read
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert [m.step for m in history] == [0, 1, 2]  # one point per epoch, epoch as the step
    assert {"train/loss", "train/acc", "val/loss", "val/acc_best"} <= set(run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert "config.yaml" in artifacts

    model_dir = project / "artifacts" / "model"
    link = json.loads((project / "artifacts" / "run.json").read_text())
    assert link == {"mlflow_run_id": result.run_id, "model_md5": model_md5(model_dir)}
    assert run.data.tags["mbegu.model.md5"] == link["model_md5"]
    saved = load_model(model_dir)
    assert saved.config["model"]["optimizer"]["lr"] == 0.004
    assert saved.features == [f"pixel_{i}" for i in range(64)]
    assert saved.classes == [str(c) for c in range(10)]
    assert result.run_id not in (model_dir / "model.json").read_text()  # same bytes every run
    history = pd.read_csv(project / "reports" / "history.csv")
    assert list(history.epoch) == [0, 1, 2]
    for name in ("train/loss", "train/acc", "val/acc"):  # each row is its own epoch's values
        logged = [m.value for m in client.get_metric_history(run.info.run_id, name)]
        np.testing.assert_allclose(history[name], logged, rtol=1e-5)
    checkpoints = list((project / "checkpoints" / result.run_id).glob("*.ckpt"))
    assert {p.name for p in checkpoints} >= {"best.ckpt", "last.ckpt"}


def test_same_config_same_bytes(project, experiment) -> None:
    """On one machine, with one thread count: the same weights, bit for bit, not only the
    same metrics (what `make run` promises for the committed outputs on the same CPU kind)."""
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    first = train(cfg, outputs="none")
    second = train(cfg, outputs="none")
    assert first.history == second.history
    assert first.metrics["val/acc"] == second.metrics["val/acc"]
    weights = [
        torch.load(str(r.best_checkpoint), weights_only=True)["state_dict"] for r in (first, second)
    ]
    assert weights[0].keys() == weights[1].keys()
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name


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


class SwallowedSigterm(pl.Callback):
    """SIGTERM lands inside a __del__, where Python prints and drops the KeyboardInterrupt
    it raises (seen in a sweep: inside SQLAlchemy's weakref callbacks)."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == 1:

            class Dies:
                def __del__(self) -> None:
                    os.kill(os.getpid(), signal.SIGTERM)

            Dies()  # freed at once: the handler runs, its exception is dropped


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_swallowed_sigterm_is_still_an_interrupt(project, client, experiment) -> None:
    from mbegu.processes import TERMINATED, sigterm_as_interrupt

    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    TERMINATED.clear()
    try:
        with sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt, match="signal 15"):
            train(cfg, callbacks=[SwallowedSigterm()])
    finally:
        TERMINATED.clear()
    [run] = runs_of(client, experiment)
    assert run.info.status == "KILLED"
    assert "val/acc" in run.data.metrics  # epoch 1 ran: the stop came from Lightning's flag


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
    prepare(cfg)  # the DVC stage that writes the split
    result = train(cfg)
    metrics = evaluate(cfg)

    [run] = runs_of(client, experiment)  # still one run: evaluate reopened train's
    assert run.info.run_id == result.run_id == metrics["mlflow_run_id"]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_acc"] == pytest.approx(metrics["test"]["acc"])
    assert 0 <= run.data.metrics["test_f1_macro"] <= 1
    assert 0 <= run.data.metrics["test_f1_weighted"] <= 1
    per_class = metrics["test"]["per_class"]
    assert list(per_class) == [str(c) for c in range(10)]
    assert sum(c["support"] for c in per_class.values()) == len(
        pd.read_parquet(project / "artifacts" / "processed" / "test.parquet")
    )
    # Per class: one table artifact, no single-point metric per class and score.
    assert not [k for k in run.data.metrics if k.startswith(("test/class/", "test_class"))]
    table = per_class_rows(client, run.info.run_id, project / "dl")
    assert list(table) == list(per_class)
    assert table["3"]["recall"] == per_class["3"]["recall"]
    assert table["3"]["support"] == per_class["3"]["support"]
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert "plots/confusion_matrix.png" in plots
    confusion = pd.read_csv(project / "reports" / "confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"]
    assert (confusion.actual == confusion.predicted).mean() == pytest.approx(
        metrics["test"]["acc"], abs=1e-6
    )

    model = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    test_rows = pd.read_parquet(project / "artifacts" / "processed" / "test.parquet")
    pixels = [f"pixel_{i}" for i in range(64)]
    answer = model.predict(test_rows[pixels].astype(np.float64))  # the raw pixel columns
    classes = [str(c) for c in range(10)]
    columns = [f"prob_{c}" for c in classes]  # the names `mbegu predict` writes
    assert list(answer.columns) == ["prediction", *columns]
    probs = answer[columns].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    saved = load_model(project / "artifacts" / "model")
    with torch.no_grad():
        expected = torch.softmax(saved.net(saved.encoder.transform(test_rows)), -1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    hits = (answer["prediction"].astype(int) == test_rows["label"].astype(int)).mean()
    assert hits == pytest.approx(metrics["test"]["acc"], abs=1e-6)


def test_non_finite_loss_fails_the_run_and_promotes_nothing(project, client, experiment) -> None:
    """lr=1e6 diverges: one line naming the metric and epoch, run FAILED with the reason,
    nothing written to artifacts/, nothing registered."""
    name = f"m-{experiment}"[:60]
    cfg = compose(
        [
            *FAST,
            f"tracking.experiment_name={experiment}",
            f"tracking.registered_model_name={name}",
            "model.optimizer.lr=1e12",
        ]
    )
    with pytest.raises(
        MbeguError, match=r"^train/loss is (nan|inf) at epoch 1: the model diverged"
    ):
        train(cfg)
    [run] = runs_of(client, experiment)
    assert run.info.status == "FAILED"
    assert run.data.tags["mbegu.error"].startswith("train/loss is")
    assert not (project / "artifacts" / "model").exists()
    assert not (project / "artifacts" / "run.json").exists()
    assert client.search_model_versions(f"name = '{name}'") == []


def test_alias_moves_only_for_a_model_that_clears_the_bar(project, client, experiment) -> None:
    name = f"m-{experiment}"[:60]
    base = [
        *FAST,
        f"tracking.experiment_name={experiment}",
        f"tracking.registered_model_name={name}",
    ]
    good = compose(base)
    train(good)
    first = evaluate(good)
    assert first["promoted"]
    assert str(client.get_model_version_by_alias(name, "candidate").version) == "1"
    # One epoch at a tiny learning rate: registered, but not better than the candidate.
    weak = compose([*base, "trainer.max_epochs=1", "model.optimizer.lr=1e-6"])
    weak = OmegaConf.merge(weak, {"tracking": {"promote_if": {"above": "candidate"}}})
    train(weak)
    second = evaluate(weak)
    assert not second["promoted"]
    assert {str(v.version) for v in client.search_model_versions(f"name = '{name}'")} == {"1", "2"}
    assert str(client.get_model_version_by_alias(name, "candidate").version) == "1"
    tag = client.get_run(second["mlflow_run_id"]).data.tags["mbegu.promotion"]
    assert tag.startswith(f"not promoted: {name} v2 is registered but @candidate stays")
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["test"]["acc"] == second["test"]["acc"]


def test_adhoc_train_leaves_the_pipeline_alone(project, client, experiment) -> None:
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    result = train(cfg, outputs="run")
    assert not (project / "artifacts").exists()
    assert not (project / "reports").exists()
    model_dir = project / "checkpoints" / result.run_id / "model"
    saved = load_model(model_dir)
    frame = pd.DataFrame(np.zeros((2, 64)), columns=saved.features)
    logged = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    answer = logged.predict(frame)
    probs = answer[[f"prob_{c}" for c in saved.classes]]
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert set(answer["prediction"]) <= set(saved.classes)
    [run] = runs_of(client, experiment)
    assert run.info.run_name.startswith("mlp-digits-")
    [dataset] = run.inputs.dataset_inputs
    assert dataset.dataset.name == "digits"
    assert dataset.dataset.digest == run.data.tags["mbegu.data.md5"]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_is_one_run(project, client, experiment) -> None:
    """trainer=ddp on two CPU processes (gloo): one MLflow run, each epoch logged once, one
    rank printing, and the saved model scores in one process what training reported."""
    from mbegu.threads import usable_cores

    from .helpers.cli import run_cli

    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
    result = run_cli(
        "train",
        *ddp,
        *FAST,
        f"tracking.experiment_name={experiment}",
        cwd=project,
        unset=("OMP_NUM_THREADS",),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("trained:") == 1  # rank 1 prints nothing
    [run] = runs_of(client, experiment)
    assert run.info.status == "FINISHED"
    assert run.data.params["trainer.strategy"] == "ddp"
    cores = usable_cores()  # each of the two ranks takes half
    assert run.data.tags["mbegu.threads"] == (
        f"{max(1, cores // 2)} ({cores} usable cores / 2 processes)"
    )
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert [m.step for m in history] == [0, 1, 2]  # not once per process
    saved = load_model(project / "checkpoints" / run.info.run_id / "model")
    datamodule = build_datamodule(compose(FAST), project)
    datamodule.setup("fit")
    val = datamodule.datasets["val"]
    with torch.no_grad():
        acc = float((saved.net(val.features).argmax(-1) == val.labels).float().mean())
    # DDP pads the odd-sized split with one repeated row per process: within 1/len(val).
    assert acc == pytest.approx(run.data.metrics["val/acc_best"], abs=1.5 / len(val))


def test_the_mbegu_command_tunes_the_garbage_collector() -> None:
    """The installed `mbegu` runs run(): full collections 100x rarer than Python's default,
    and what is alive at the end frozen, so that Python's teardown does not walk it again.
    A sweep's collection between trials acts in that process only, never in a caller's."""
    from importlib.metadata import entry_points

    [script] = entry_points(group="console_scripts", name="mbegu")
    module, name = script.value.split(":")
    code = (
        f"import gc, sys\nfrom {module} import {name} as entry\n"
        "sys.argv = ['mbegu', 'params', '--help']\n"
        "try:\n    entry()\nexcept SystemExit:\n    pass\n"
        "frozen = gc.get_freeze_count()\ngc.unfreeze()\n"
        "from mbegu.processes import collect_between_trials, freeze_imports\n"
        "collect_between_trials()\nbetween = gc.get_freeze_count()\n"
        "gc.unfreeze()\nfreeze_imports()\n"
        "print(gc.get_threshold()[2], frozen, between, gc.get_freeze_count())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    threshold, frozen, between_trials, imports = map(int, out.stdout.split()[-4:])
    assert threshold == FULL_COLLECTION_EVERY
    assert frozen > 1000
    assert between_trials > 1000
    assert imports > 1000  # a sweep worker's imports, frozen before its first trial

    before = gc.get_threshold(), gc.get_freeze_count()
    collect_between_trials()  # this test process is no `mbegu` command
    freeze_imports()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
