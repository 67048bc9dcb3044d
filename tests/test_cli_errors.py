"""Bad input through the real `mbegu` command: a one-line error naming the problem and the
fix, exit code 2, no half-written outputs, no MLflow run left RUNNING."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers.cli import run_cli, runs_of
from .helpers.project import FAST

pytestmark = pytest.mark.usefixtures("no_running_runs")


def assert_clean_failure(result, expected: str, project: Path) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "no error message"
    assert lines[-1].startswith("mbegu: error: "), result.stderr
    assert expected in lines[-1], lines[-1]
    assert "Traceback" not in result.stderr
    assert not (project / "artifacts").exists(), "outputs written despite the error"


def test_missing_data_says_dvc_pull(project: Path) -> None:
    (project / "data" / "digits.csv").unlink()
    result = run_cli("prepare", "--params", "params.yaml", cwd=project)
    assert_clean_failure(result, "not found: run `dvc pull`", project)


def test_corrupt_csv(project: Path) -> None:
    raw = project / "data" / "digits.csv"
    lines = raw.read_text().splitlines()
    lines[5] = ",".join(["", *lines[5].split(",")[1:]])
    raw.write_text("\n".join(lines) + "\n")
    result = run_cli("prepare", "--params", "params.yaml", cwd=project)
    assert_clean_failure(result, "row 6 column pixel_0 is missing: fill it", project)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "model=transformer",
            "unknown option 'transformer' for config group 'model': choose one of cnn, linear, mlp",
        ),
        ("optimiser=adam", "optimiser"),
        ("trainer.max_epochs=ten", "trainer.max_epochs='ten' has the wrong type"),
        ("trainer.max_epoch=3", "unknown config key 'trainer.max_epoch'"),
    ],
)
def test_bad_override(project: Path, override: str, expected: str) -> None:
    result = run_cli("train", override, cwd=project)
    assert_clean_failure(result, expected, project)


def test_unreachable_tracking_server(project: Path, client, experiment: str) -> None:
    result = run_cli(
        "train",
        *FAST,
        f"tracking.experiment_name={experiment}",
        cwd=project,
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )
    assert_clean_failure(
        result, "MLflow tracking server http://127.0.0.1:9 is unreachable", project
    )
    assert runs_of(client, experiment) == []


def test_stale_params_yaml(project: Path) -> None:
    config = project / "conf" / "trainer" / "default.yaml"
    config.write_text(config.read_text().replace("max_epochs: 30", "max_epochs: 5"))
    result = run_cli("train", "--params", "params.yaml", cwd=project)
    assert_clean_failure(result, "params.yaml is stale", project)
    assert "dvc exp run" in result.stderr


def test_params_yaml_away_from_its_conf(project: Path, tmp_path: Path) -> None:
    away = tmp_path / "params.yaml"
    away.write_text((project / "params.yaml").read_text())
    result = run_cli("prepare", "--params", str(away), cwd=project)
    assert_clean_failure(result, "has no conf/ beside it", project)


def test_params_yaml_with_a_key_the_class_does_not_take(project: Path) -> None:
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"]["val_fractoin"] = 0.2
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {"MBEGU_ALLOW_STALE_PARAMS": "1"}  # past the freshness check, to the class itself
    result = run_cli("prepare", "--params", "params.yaml", cwd=project, env=env)
    assert_clean_failure(result, "does not take these settings", project)
    assert "'val_fractoin'" in result.stderr


def test_stage_commands_write_nothing_ad_hoc(project: Path) -> None:
    for stage in ("prepare", "evaluate"):
        result = run_cli(stage, cwd=project)
        assert_clean_failure(result, f"run `dvc repro {stage}`", project)


def test_evaluate_before_train(project: Path) -> None:
    result = run_cli("evaluate", "--params", "params.yaml", cwd=project)
    assert_clean_failure(result, "run `dvc repro train`", project)


def test_outside_a_project(tmp_path: Path) -> None:
    result = run_cli("train", cwd=tmp_path)
    assert result.returncode == 2
    assert "no mbegu project" in result.stderr


def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    """`mbegu ui` on a port another server holds: one line with the way out, in-process (the
    command's own process is covered where the UI is started for real)."""
    import socket

    from mbegu.cli.ui import serve
    from mbegu.errors import MbeguError

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(MbeguError, match=f"port {port} on 127.0.0.1 is in use"):
            serve(f"sqlite:///{tmp_path / 'mlflow.db'}", port=port)
    assert not (tmp_path / "mlflow.db").exists()  # refused before the store was touched


def test_python_dash_m_mbegu_is_the_command() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mbegu", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "mbegu sweep sweep=default" in done.stdout


def test_the_version_comes_from_git() -> None:
    """setuptools-scm derives it at install: a release tag's number, else the next one with
    the commit (`0.1.1.dev12+g1a2b3c4`); never the fallback for a copy without git."""
    import importlib.metadata
    import re
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mbegu", "--version"], capture_output=True, text=True, check=True
    )
    version = importlib.metadata.version("mbegu")
    assert done.stdout.strip() == f"mbegu {version}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version) or re.search(r"\+g[0-9a-f]{7,}", version), (
        version
    )


def test_a_clean_up_that_fails_during_an_interrupt_stays_an_interrupt(tmp_path: Path) -> None:
    # As Optuna's journal lock does when SIGTERM lands between its rename and its unlink: the
    # `except BaseException` unlinks again, and FileNotFoundError replaces the interrupt.
    from mbegu.processes import interrupt_behind

    def release() -> None:
        try:
            raise KeyboardInterrupt("signal 15")
        except BaseException:
            (tmp_path / "lock.rename").unlink()

    with pytest.raises(FileNotFoundError) as raised:
        release()
    interrupt = interrupt_behind(raised.value)
    assert isinstance(interrupt, KeyboardInterrupt) and "signal 15" in str(interrupt)
    assert interrupt_behind(FileNotFoundError("no interrupt behind it")) is None
