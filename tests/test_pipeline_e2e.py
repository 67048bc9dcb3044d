"""The whole loop on a fresh clone: `dvc pull`, `dvc repro`, one finished MLflow run holding
everything; a repeat `dvc repro` does nothing; `dvc exp run -S` trains what it says."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow.pyfunc
import pytest
import yaml
from mlflow import MlflowClient

from .conftest import REPO

pytestmark = pytest.mark.e2e


def sh(
    *cmd: str, cwd: Path, check: bool = True, tracking_uri: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_TRACKING_URI", "DVC_", "MBEGU_"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def fresh_clone(parent: Path, tracking_uri: str | None = None) -> Path:
    """`git clone`, `dvc pull`, `dvc repro`: the README's first command, minus the install.

    `tracking_uri`: a store other than the clone's own (a new store costs seconds of setup).
    """
    root = parent / "mbegu"
    sh("git", "clone", "--quiet", str(REPO), str(root), cwd=REPO)
    sh("git", "config", "user.email", "e2e@mbegu.invalid", cwd=root)
    sh("git", "config", "user.name", "e2e", cwd=root)
    sh("dvc", "pull", "data.dvc", cwd=root)
    repro = sh("dvc", "repro", cwd=root, tracking_uri=tracking_uri)
    assert "Running stage 'train'" in repro.stdout
    shutil.copy(root / "reports" / "metrics.json", parent / "first-metrics.json")
    return root


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone with its data pulled and the pipeline run once."""
    if shutil.which("git") is None:
        pytest.skip("git is needed for the end-to-end test")
    return fresh_clone(tmp_path_factory.mktemp("e2e"))


def store(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def all_runs(root: Path) -> list:
    client = store(root)
    experiment = client.get_experiment_by_name("mbegu-digits")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def test_pipeline_outputs(clone: Path) -> None:
    for name in ("train.csv", "val.csv", "test.csv"):
        assert (clone / "artifacts" / "processed" / name).is_file()
    assert (clone / "artifacts" / "model" / "model.pt").is_file()
    for name in ("metrics.json", "history.csv", "confusion.csv", "confusion_matrix.png"):
        assert (clone / "reports" / name).is_file(), name
    assert sorted(p.name for p in (clone / "data").iterdir()) == ["digits.csv"]
    metrics = json.loads((clone / "reports" / "metrics.json").read_text())
    assert metrics["test"]["acc"] >= 0.95, metrics
    shown = sh("dvc", "metrics", "show", "--json", cwd=clone).stdout
    assert '"acc"' in shown
    assert "prepare" in sh("dvc", "dag", cwd=clone).stdout


def test_one_finished_run_holds_everything(clone: Path) -> None:
    [run] = all_runs(clone)
    client = store(clone)
    run_id = run.info.run_id
    metrics = json.loads((clone / "reports" / "metrics.json").read_text())
    params = yaml.safe_load((clone / "params.yaml").read_text())
    assert json.loads((clone / "reports" / "run.json").read_text())["mlflow_run_id"] == run_id
    assert run.info.status == "FINISHED"
    # config
    assert run.data.params["model.optimizer.lr"] == str(params["model"]["optimizer"]["lr"])
    assert run.data.params["seed"] == str(params["seed"])
    assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}
    # metrics: per epoch from train, test from evaluate
    epochs = len((clone / "reports" / "history.csv").read_text().splitlines()) - 1
    assert len(client.get_metric_history(run_id, "val/acc")) == epochs > 1
    assert run.data.metrics["test/acc"] == pytest.approx(metrics["test"]["acc"])
    # plots and model
    assert "plots/confusion_matrix.png" in {a.path for a in client.list_artifacts(run_id, "plots")}
    mlflow.set_tracking_uri(f"sqlite:///{clone / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    assert model.metadata.signature is not None
    version = client.get_model_version_by_alias("mbegu-digits", "candidate")
    assert version.run_id == run_id
    # lineage tags
    head = sh("git", "rev-parse", "HEAD", cwd=clone).stdout.strip()
    data_md5 = yaml.safe_load((clone / "data.dvc").read_text())["outs"][0]["md5"]
    tags = run.data.tags
    assert tags["mlflow.source.git.commit"] == head
    assert tags["mbegu.git.dirty"] in {"true", "false"}
    assert tags["mbegu.data.md5"] == data_md5
    assert tags["mbegu.command"] == "mbegu train --params params.yaml"
    assert tags["mbegu.dvc.stage"] == "train"


def test_two_clones_give_identical_metrics(clone: Path, tmp_path: Path, tracking_uri: str) -> None:
    other = fresh_clone(tmp_path, tracking_uri)  # where runs are stored does not change metrics
    first = (clone.parent / "first-metrics.json").read_text()
    assert (other / "reports" / "metrics.json").read_text() == first
    assert (other / "reports" / "history.csv").read_text() == (
        clone / "reports" / "history.csv"
    ).read_text()


def test_second_repro_runs_no_stage(clone: Path) -> None:
    again = sh("dvc", "repro", cwd=clone)
    assert "Running stage" not in again.stdout, again.stdout
    assert len(all_runs(clone)) == 1


def test_ui_shows_the_run(clone: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mbegu = Path(sys.executable).with_name("mbegu")
    server = subprocess.Popen(
        [str(mbegu), "ui", "--port", str(port)],
        cwd=clone,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        remote = MlflowClient(f"http://127.0.0.1:{port}")
        deadline, found = time.monotonic() + 90, None
        while time.monotonic() < deadline and found is None:
            try:
                experiment = remote.get_experiment_by_name("mbegu-digits")
                found = remote.search_runs([experiment.experiment_id])
            except Exception:
                time.sleep(1)
        assert found is not None, "the UI did not answer within 90 s"
        assert [r.info.run_id for r in found] == [r.info.run_id for r in all_runs(clone)]
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_edited_conf_is_not_silently_ignored(clone: Path) -> None:
    config = clone / "conf" / "model" / "mlp.yaml"
    original = config.read_text()
    config.write_text(original.replace("lr: 0.002", "lr: 0.01"))
    try:
        result = sh("dvc", "repro", cwd=clone, check=False)
        assert result.returncode != 0
        assert "params.yaml is stale" in result.stderr + result.stdout
        assert "dvc exp run" in result.stderr + result.stdout
        assert all(r.info.status != "RUNNING" for r in all_runs(clone))
    finally:
        config.write_text(original)
        sh("dvc", "repro", cwd=clone)


def test_exp_run_with_override_trains_the_cnn(clone: Path) -> None:
    before = {r.info.run_id for r in all_runs(clone)}
    sh("dvc", "exp", "run", "-S", "model=cnn", cwd=clone)
    new = [r for r in all_runs(clone) if r.info.run_id not in before]
    assert len(new) == 1
    [run] = new
    assert run.info.status == "FINISHED"
    assert run.data.tags["mbegu.model"] == "CNN"
    assert run.data.params["model.net._target_"] == "mbegu.models.networks.CNN"
    assert run.data.tags.get("mbegu.dvc.exp_name")
    metrics = json.loads((clone / "reports" / "metrics.json").read_text())
    assert json.loads((clone / "reports" / "run.json").read_text()) == {
        "mlflow_run_id": run.info.run_id
    }
    assert metrics["test"]["acc"] >= 0.97, metrics
    table = sh("dvc", "exp", "show", "--csv", cwd=clone).stdout
    assert run.info.run_id in table  # the DVC experiment links to its MLflow run
