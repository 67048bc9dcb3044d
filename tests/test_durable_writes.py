"""Nothing lost, nothing silent: a full disk, a torn sweep journal, a stage that fails. Each
through the `mbegu` command, on the real MLflow store and Optuna journal."""

from __future__ import annotations

import json
import re
import resource
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient

from mbegu.sweeps import storage as trials

from .helpers.cli import call_main, run_cli, runs_of
from .test_sweeps import parent_of, sweep_args

pytestmark = pytest.mark.usefixtures("no_running_runs")

EVALUATE_OUTPUTS = (
    "reports/metrics.json",
    "reports/confusion.csv",
    "reports/confusion_matrix.png",
    "reports/model_card.md",
    "reports/run.json",
    "artifacts/evaluation/test_predictions.csv",
)


def file_size_limit(limit: int) -> Callable[[], None]:
    """A small filesystem without root: RLIMIT_FSIZE caps every file the process writes, and
    with SIGXFSZ ignored a write past it fails with EFBIG, as a full disk fails with ENOSPC."""

    def limit_writes() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_writes


def private_store(client: MlflowClient, project: Path) -> str:
    """A copy of the session's store (SQLite's backup, already migrated), emptied of runs.

    The size limit is set from its size, so it must not grow with the runs the suite made
    before (a large store would let the model through); a failure under the limit cannot
    touch other tests' runs.
    """
    client.search_experiments()  # the session store exists and is migrated
    source = client.tracking_uri.removeprefix("sqlite:///")
    target = project / "mlflow.db"
    with sqlite3.connect(source) as old, sqlite3.connect(target) as new:
        old.backup(new)
    keep = {"alembic_version", "experiments", "experiment_tags"}
    with sqlite3.connect(target) as store:
        tables = store.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        for (table,) in tables:
            if table not in keep and not table.startswith("sqlite_"):
                store.execute(f'DELETE FROM "{table}"')
    with sqlite3.connect(target) as store:
        store.execute("VACUUM")
    return f"sqlite:///{target}"


def pipeline_config(project: Path, experiment: str) -> None:
    """A wide MLP (a 4 MB model), three quick epochs, its own experiment: params.yaml for the
    stage commands, composed from conf/ as `dvc exp run` does."""
    from mbegu.config.params import write_params

    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("- debug: null", "- debug: fast"))
    mlp = project / "conf" / "model" / "mlp.yaml"
    mlp.write_text(
        re.sub(r"hidden_sizes: \[[^]]*\]", "hidden_sizes: [1024, 1024]", mlp.read_text())
    )
    tracking = project / "conf" / "tracking" / "mlflow.yaml"
    text = re.sub(
        r"(?m)^experiment_name: .*$", f"experiment_name: {experiment}", tracking.read_text()
    )
    tracking.write_text(text)
    write_params(project / "params.yaml", project)


def test_a_full_disk_fails_a_stage_in_one_line_and_keeps_its_outputs(
    project: Path, client: MlflowClient, experiment: str
) -> None:
    """The evaluate stage logs the 4 MB model to MLflow after writing its reports: with files
    capped 2 MB above the store's size the model cannot be written. One line names the
    filesystem and the limit, exit 2; the run ends FAILED, the logged model too; every output
    of the stage is as it was (no half of them new); the same command works once there is
    room."""
    uri = private_store(client, project)
    env = {"MLFLOW_TRACKING_URI": uri}
    pipeline_config(project, experiment)
    for stage in ("prepare", "train"):
        result = call_main(stage, "--params", "params.yaml", cwd=project, env=env)
        assert result.returncode == 0, result.stderr
    before = {}
    for name in EVALUATE_OUTPUTS:  # what an earlier evaluate left
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"earlier {name}\n")
        before[name] = path.read_bytes()
    model = (project / "artifacts" / "model" / "model.pt").read_bytes()

    limit = (project / "mlflow.db").stat().st_size + 2 * 2**20
    result = run_cli(
        "evaluate",
        "--params",
        "params.yaml",
        cwd=project,
        env=env,
        preexec_fn=file_size_limit(limit),
    )
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mbegu: error: the filesystem at /"), last
    assert "is full" in last and "ulimit -f" in last and "needed" in last, last
    assert "Traceback" not in result.stderr
    for name, content in before.items():
        assert (project / name).read_bytes() == content, f"{name} was rewritten"
    assert (project / "artifacts" / "model" / "model.pt").read_bytes() == model
    store = MlflowClient(uri)
    [run] = runs_of(store, experiment)
    assert run.info.status == "FAILED"
    assert "File too large" in run.data.tags["mbegu.error"]
    [logged] = store.search_logged_models([run.info.experiment_id])
    assert logged.status.to_proto() != logged.status.READY.to_proto()  # marked failed
    assert not list((project / ".mbegu").glob("staging-*")), "staging folder left behind"

    result = call_main("evaluate", "--params", "params.yaml", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads((project / "reports" / "metrics.json").read_text())["test"]["acc"] > 0.5
    assert store.get_run(run.info.run_id).info.status == "FINISHED"


def test_a_torn_journal_is_repaired_and_a_finished_sweep_stays_finished(
    project: Path, client: MlflowClient, experiment: str
) -> None:
    """A sweep's journal whose last record was cut short (a full disk mid-append): the tail
    goes to <journal>.torn with one warning, the study goes on, and a rerun with nothing to
    run leaves the finished parent run as it was."""
    args = sweep_args(experiment, "torn", 2, epochs=2)
    result = call_main("sweep", *args, cwd=project)
    assert result.returncode == 0, result.stderr
    parent = parent_of(client, experiment)
    assert parent.info.status == "FINISHED"
    journal = project / "sweeps" / "torn.journal"
    whole = journal.read_bytes()
    tail = b'{"op_code":6,"worker_id":"w","trial_id":1,"state":1,"val'
    journal.write_bytes(whole + tail)

    result = call_main("sweep", *args, cwd=project)
    assert result.returncode == 0, result.stderr
    [warning] = [x for x in result.stderr.splitlines() if x.startswith("mbegu: warning:")]
    assert f"{journal}: its last record was cut short" in warning, warning
    assert (project / "sweeps" / "torn.journal.torn").read_bytes() == tail + b"\n"
    lines = journal.read_bytes().splitlines(keepends=True)
    assert b"".join(lines).startswith(whole)  # the records before the tear, then new ones
    assert all(line.endswith(b"\n") and json.loads(line) for line in lines)
    again = client.get_run(parent.info.run_id)
    assert again.info.status == "FINISHED"
    assert again.info.end_time == parent.info.end_time
    assert again.data.tags == parent.data.tags

    result = call_main("sweep", *sweep_args(experiment, "torn", 3, epochs=2), cwd=project)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    storage, _ = trials.make_storage(None, "torn", project)
    study = optuna.load_study(study_name="torn", storage=storage)
    assert trials.done(study) == 3 and len(study.trials) == 3
    assert parent_of(client, experiment).info.status == "FINISHED"
