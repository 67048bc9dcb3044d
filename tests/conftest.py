"""Fixtures: a real MLflow store, a scratch copy of the project, the example's data. Shared
code lives in tests/helpers/; nothing here runs when pytest imports this file."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .helpers.project import example


def pytest_configure(config: pytest.Config) -> None:
    """Offline, and a thread budget for each xdist worker and the `mbegu` processes it starts
    (they inherit it): the usable cores shared by the workers, unless the user set one."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers > 1:
        from mbegu.threads import usable_cores

        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, usable_cores() // workers)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: the tests that share one xdist worker (a clone, a server), then the slow
    ones, then the rest, so that no worker is left with a long group at the end while the
    other idles (xdist hands out work in collection order)."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("xdist_group"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: each rank keeps the files' order


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
    shutil.copytree(example(), root)
    (root / "data").mkdir()
    (root / "data" / "digits.csv").write_text(digits_text)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MBEGU_ROOT", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    return root


@pytest.fixture
def client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


@pytest.fixture
def experiment(request: pytest.FixtureRequest) -> str:
    """An experiment name of the test's own, so runs of different tests never mix."""
    return "t-" + request.node.name.replace("[", "-").replace("]", "")[:60]


@pytest.fixture
def no_running_runs(client: Any) -> Iterator[None]:
    """After the test, no run anywhere in the session store may be left RUNNING."""
    yield
    experiments = [e.experiment_id for e in client.search_experiments()]
    running = client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'")
    assert not running, f"runs left RUNNING: {[r.info.run_id for r in running]}"
