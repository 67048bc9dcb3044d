"""Shared fixtures: the real configs shrunk for speed, a real MLflow store, a scratch project."""

from __future__ import annotations

import atexit
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAST = ["debug=fast", "data.batch_size=128"]  # 3 epochs, 8 steps each: a run in seconds
# What the suite reads of the project: the committed versions, never the working tree's
# edits, so `make test` passes after `dvc exp run`, an edited conf/ or a finished sweep.
PROJECT_FILES = ("conf", "params.yaml", "dvc.yaml", "data.dvc")


def _pristine() -> Path:
    """conf/, params.yaml, dvc.yaml and data.dvc as committed at HEAD, in a folder of their
    own (the working tree's copy outside a git checkout, e.g. an unpacked release)."""
    folder = Path(tempfile.mkdtemp(prefix="mbegu-pristine-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD", *PROJECT_FILES],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if archive.returncode == 0:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
    else:
        shutil.copytree(REPO / "conf", folder / "conf")
        for name in PROJECT_FILES[1:]:
            shutil.copy(REPO / name, folder / name)
    return folder


PRISTINE = _pristine()
atexit.register(shutil.rmtree, PRISTINE, ignore_errors=True)

# The example the tests train on, whatever data and model the user's conf/config.yaml picks
# (`mbegu data add` switches it): mbegu's own digits and MLP, params.yaml composed to match.
EXAMPLE_CHOICES = {"data": "digits", "model": "mlp"}


def _example() -> Path:
    import re

    folder = Path(tempfile.mkdtemp(prefix="mbegu-example-"))
    shutil.copytree(PRISTINE, folder, dirs_exist_ok=True)
    config = folder / "conf" / "config.yaml"
    text = original = config.read_text()
    for group, option in EXAMPLE_CHOICES.items():
        text = re.sub(rf"(?m)^(\s*- {group}: )\S+", rf"\g<1>{option}", text, count=1)
    if text != original:
        from mbegu.config.compose import write_params

        config.write_text(text)
        write_params(folder / "params.yaml", folder)
    return folder


EXAMPLE = _example()
atexit.register(shutil.rmtree, EXAMPLE, ignore_errors=True)

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def digits_text() -> str:
    from mbegu.data.digits import digits_csv

    return digits_csv()


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the session: creating one costs seconds of schema migrations."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def project(
    tmp_path: Path, digits_text: str, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A scratch copy of the project (configs, pipeline, raw data), as cwd, tracking to the
    session store. Outputs land here, never in the repository."""
    root = tmp_path / "project"
    shutil.copytree(EXAMPLE, root)
    (root / "data").mkdir()
    (root / "data" / "digits.csv").write_text(digits_text)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MBEGU_ROOT", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    return root


@pytest.fixture
def client(tracking_uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    """An experiment name of the test's own, so runs of different tests never mix."""
    return "t-" + request.node.name.replace("[", "-").replace("]", "")[:60]


def runs_of(client, experiment: str) -> list:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id])


def run_cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: int = 300,
    unset: tuple[str, ...] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real `mbegu` console script, as a user would call it (`unset`: environment
    variables it must not see)."""
    mbegu = Path(sys.executable).with_name("mbegu")
    merged = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [str(mbegu), *args],
        cwd=cwd,
        env={**merged, **(env or {})},
        preexec_fn=preexec_fn,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """The real `mbegu` console script in the background, its output (stdout and stderr) in
    one text pipe: for tests that signal it mid-run."""
    mbegu = Path(sys.executable).with_name("mbegu")
    return subprocess.Popen(
        [str(mbegu), *args],
        cwd=cwd,
        text=True,
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def start_ui(port: int, cwd: Path, log: Path | None = None) -> subprocess.Popen[str]:
    """`mbegu ui` on a port, in a process group of its own (so a test can always stop it);
    what it prints goes to `log`."""
    mbegu = Path(sys.executable).with_name("mbegu")
    return subprocess.Popen(
        [str(mbegu), "ui", "--port", str(port)],
        cwd=cwd,
        stdout=log.open("w") if log else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


@pytest.fixture
def no_running_runs(client) -> Iterator[None]:
    """After the test, no run anywhere in the session store may be left RUNNING."""
    yield
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'")
    assert not running, f"runs left RUNNING: {[r.info.run_id for r in running]}"
