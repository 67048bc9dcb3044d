"""A team's tracking server, tested against the real thing: `mbegu server` on PostgreSQL with
proxied artifacts, and a second machine (a fresh clone) that runs the pipeline and a sweep
against it. Needs PostgreSQL: .ci/run starts one and sets MBEGU_TEST_POSTGRES_MLFLOW_URL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from .helpers.project import example
from .test_pipeline_e2e import fresh_clone, params_of, sh

URL = os.environ.get("MBEGU_TEST_POSTGRES_MLFLOW_URL")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("team-server"),  # one worker: its tests share one server
    pytest.mark.skipif(not URL, reason="MBEGU_TEST_POSTGRES_MLFLOW_URL unset (.ci/run sets it)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`mbegu server` on 127.0.0.1, its runs in PostgreSQL, its artifacts in its own folder."""
    home = tmp_path_factory.mktemp("server") / "project"
    shutil.copytree(example(), home)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mbegu = Path(sys.executable).with_name("mbegu")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_URI")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    log = home.parent / "server.log"
    process = subprocess.Popen(
        [str(mbegu), "server", "--backend-store-uri", URL, "--port", str(port)],
        cwd=home,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, log.read_text()[-2000:]
                time.sleep(1)
        else:
            pytest.fail(f"mbegu server did not answer in 120 s: {log.read_text()[-2000:]}")
        yield url, home
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def test_a_second_machine_runs_the_pipeline_and_a_sweep_on_the_server(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    url, home = server
    clone = fresh_clone(tmp_path, tracking_uri=url)  # `dvc repro` with the server's URL
    sh(
        "mbegu",
        "sweep",
        "sweep=default",
        "debug=fast",
        "sweep.n_trials=3",
        "sweep.study_name=team",
        cwd=clone,
        tracking_uri=url,
    )
    client = MlflowClient(url)
    params = params_of(clone)
    experiment = client.get_experiment_by_name(params["tracking"]["experiment_name"])
    runs = client.search_runs([experiment.experiment_id])
    [pipeline] = [r for r in runs if r.data.tags.get("mbegu.dvc.stage") == "train"]
    [parent] = [r for r in runs if r.data.tags.get("mbegu.sweep.role") == "parent"]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert pipeline.info.status == parent.info.status == "FINISHED"
    assert len(trials) == 3 and {r.info.status for r in trials} == {"FINISHED"}
    assert "test_acc" in pipeline.data.metrics

    # Artifacts go through the server (proxied): the run names no path on any machine, the
    # files land in the server's folder, and a client reads them back byte for byte.
    assert pipeline.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert not (clone / "mlartifacts").exists() and not (clone / "mlflow.db").exists()
    assert list((home / "mlartifacts").rglob("confusion_matrix.png"))
    fetched = client.download_artifacts(
        pipeline.info.run_id, "plots/confusion_matrix.png", str(tmp_path)
    )
    assert Path(fetched).read_bytes() == (clone / "reports" / "confusion_matrix.png").read_bytes()

    # The registry on the server: the alias points at the pipeline's model, which predicts.
    name = params["tracking"]["registered_model_name"]
    version = client.get_model_version_by_alias(name, "candidate")
    assert version.run_id == pipeline.info.run_id
    rows = "artifacts/processed/test.parquet"
    by_env = sh("mbegu", "predict", rows, "--model", name, cwd=clone, tracking_uri=url)
    assert f"with models:/{name}@candidate" in by_env.stdout

    # The config key means the same as the environment variable, for every command.
    config = clone / "conf" / "tracking" / "mlflow.yaml"
    original = config.read_text()
    config.write_text(original.replace("tracking_uri: null", f"tracking_uri: {url}"))
    try:
        by_config = sh("mbegu", "predict", rows, "--model", name, "-o", "p2.csv", cwd=clone)
        assert by_config.stdout.split("accuracy")[1] == by_env.stdout.split("accuracy")[1]
        ui = sh("mbegu", "ui", cwd=clone)
        assert f"points to a server: open {url}" in ui.stdout
    finally:
        config.write_text(original)
