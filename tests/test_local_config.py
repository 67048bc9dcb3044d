"""conf/local.yaml: one machine's settings reach every command, never params.yaml or DVC."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mbegu.config.compose import compose
from mbegu.config.params import load_params
from mbegu.errors import MbeguError

from .helpers.project import REPO


def _local(project: Path, text: str) -> None:
    (project / "conf" / "local.yaml").write_text(text)


def test_local_settings_reach_compose_and_params_but_not_params_yaml(project: Path) -> None:
    params = project / "params.yaml"
    committed = params.read_bytes()
    _local(project, "tracking:\n  tracking_uri: http://127.0.0.1:5999\nthreads: 3\n")
    cfg = compose()
    assert cfg.tracking.tracking_uri == "http://127.0.0.1:5999" and cfg.threads == 3
    # The command line wins over the file.
    assert compose(["threads=1"]).threads == 1
    # A DVC stage reads params.yaml: the settings apply, params.yaml is not stale, nor changed.
    staged = load_params(params)
    assert staged.tracking.tracking_uri == "http://127.0.0.1:5999" and staged.threads == 3
    assert params.read_bytes() == committed
    assert yaml.safe_load(committed)["threads"] is None
    # A sweep's storage applies when the command composes a sweep, and is skipped otherwise.
    _local(project, "sweep:\n  storage: sqlite:///optuna-here.db\n")
    assert compose(["sweep=default"]).sweep.storage == "sqlite:///optuna-here.db"
    assert "sweep" not in compose()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data:\n  path: elsewhere.csv\nthreads: 2\n", "conf/local.yaml sets data.path: it holds"),
        ("- threads\n", "conf/local.yaml must be a mapping"),
        ("threads: [1\n", "conf/local.yaml cannot be read (ParserError)"),
    ],
)
def test_a_local_file_that_would_change_results_is_one_line(
    project: Path, text: str, expected: str
) -> None:
    _local(project, text)
    with pytest.raises(MbeguError) as err:
        compose()
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)
    run = [sys.executable, "-m", "mbegu", "train", "--cfg", "job"]
    out = subprocess.run(run, cwd=project, capture_output=True, text=True)
    assert out.returncode != 0
    assert out.stderr.strip().splitlines() == [f"mbegu: error: {err.value}"]


def test_the_local_file_is_git_ignored_and_its_example_composes() -> None:
    example = REPO / "conf" / "local.yaml.example"
    settings = yaml.safe_load(example.read_text())
    assert settings["tracking"]["tracking_uri"].startswith("http://")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", "conf/local.yaml"], cwd=REPO, check=False
    )
    assert ignored.returncode == 0
