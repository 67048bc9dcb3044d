"""The trust boundary and failure handling: hostile files never run code, secrets are never
stored or printed, no run stays RUNNING, names stay inside the project, signals end everything,
and every bad value is one line through the real `mbegu` command."""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest
import torch

from mbegu.config.compose import compose
from mbegu.data.stage import prepare
from mbegu.security import mask_secrets
from mbegu.training.train import train

from .helpers.cli import call_main, run_cli, runs_of, start_cli, start_ui
from .helpers.project import FAST
from .test_cli_errors import assert_clean_failure

pytestmark = pytest.mark.usefixtures("no_running_runs")


class RunsCode:
    """A pickle that runs a command when loaded: what a hostile checkpoint would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_mask_secrets_forms() -> None:
    assert mask_secrets("postgresql://u:secretpw@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert mask_secrets("https://tok3n@host/x") == "https://***@host/x"
    assert mask_secrets("s3://b/k?X-Amz-Signature=abc&y=1") == "s3://b/k?X-Amz-Signature=***&y=1"
    assert mask_secrets("http://host:5000/api?token=abc") == "http://host:5000/api?token=***"
    assert mask_secrets("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
    assert mask_secrets("postgresql://u:pa/ss@h/db") == "postgresql://u:***@h/db"
    assert mask_secrets("postgresql://u:p@ss#1@h/db") == "postgresql://u:***@h/db"
    assert mask_secrets("host=db password=hunter2 user=u") == "host=db password=*** user=u"
    assert mask_secrets("https://h/x?client_secret=a&X-Amz-Security-Token=b") == (
        "https://h/x?client_secret=***&X-Amz-Security-Token=***"
    )


def test_pickled_checkpoint_is_refused_and_runs_nothing(project: Path) -> None:
    marker = project / "PWNED"
    folder = project / "checkpoints" / "feedface"
    folder.mkdir(parents=True)
    torch.save({"mbegu_config": RunsCode(marker), "state_dict": {}}, folder / "last.ckpt")
    result = run_cli("train", "resume.mode=continue", "resume.run_id=feedface", cwd=project)
    assert_clean_failure(result, "is not a plain checkpoint", project)
    assert "nothing was loaded" in result.stderr
    assert not marker.exists()


@pytest.mark.slow
def test_checkpoint_config_outside_the_allow_list_is_refused(project: Path) -> None:
    marker = project / "copied"
    config = compose(FAST)
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(config, resolve=True)
    plain["model"]["net"] = {"_target_": "shutil.copyfile", "src": "dvc.yaml", "dst": str(marker)}
    folder = project / "checkpoints" / "cafe"
    folder.mkdir(parents=True)
    torch.save({"mbegu_config": plain, "state_dict": {}}, folder / "last.ckpt")
    result = run_cli("train", "resume.mode=continue", "resume.run_id=cafe", cwd=project)
    assert_clean_failure(result, "model.net._target_='shutil.copyfile' is not an allowed", project)
    assert not marker.exists()


# A well-formed encoder for one numeric column `a`: the hostile part is elsewhere.
ENCODER = {
    "kind": "table",
    "target": "y",
    "classes": ["0", "1"],
    "columns": ["a"],
    "numeric": ["a"],
    "categorical": [],
    "means": [0.0],
    "scales": [1.0],
    "categories": {},
    "missing": "error",
    "fills": {},
}


@pytest.mark.parametrize(
    ("encoder", "expected"),
    [
        ({**ENCODER, "kind": "pickle"}, "no table, text or image encoder in it (kind 'pickle')"),
        ({**ENCODER, "__reduce__": "os.system"}, "the table encoder is malformed"),
        ({**ENCODER, "means": "rm -rf"}, "the table encoder is malformed"),
    ],
)
def test_hostile_encoder_is_refused(project: Path, encoder: dict, expected: str) -> None:
    folder = project / "hostile"
    folder.mkdir()
    net = {"_target_": "mbegu.models.networks.MLP", "in_features": 1, "num_classes": 2}
    info = {"format": 2, "net": net, "encoder": encoder, "classes": ["0", "1"], "config": {}}
    (folder / "model.json").write_text(json.dumps(info))
    torch.save(instantiate_net(net).state_dict(), folder / "model.pt")
    (project / "rows.csv").write_text("a\n1\n")
    result = run_cli("predict", "rows.csv", "--model-dir", str(folder), cwd=project)
    assert_clean_failure(result, expected, project)
    assert not (project / "predictions.csv").exists()


def instantiate_net(net: dict):
    from mbegu.security import instantiate

    return instantiate(net)


@pytest.mark.parametrize(
    "net",
    [
        {"_target_": "pandas.read_pickle", "filepath_or_buffer": "evil.pkl"},
        {"_target_": "builtins.open", "file": "x", "mode": "w"},
        {"_target_": "shutil.copyfile", "src": "dvc.yaml", "dst": "copied"},
        {"_target_": "mbegu.models.networks.MLP", "layers": {"_target_": "os.system"}},
        {"_target_": "mbegu.tracking.store.os.system", "_args_": ["touch PWNED"]},
        {"_target_": "torch.nn.modules.module.torch.load", "f": "evil.pkl", "weights_only": False},
        {"_target_": "mbegu.data.digits.write_digits", "path": "copied"},
        {
            "_target_": "mbegu.models.networks.MLP",
            "dropout": "${oc.create:{_target_: os.system, _args_: ['touch PWNED']}}",
        },
        {"_target_": "mbegu.__main__.main"},
    ],
    ids=[
        "read_pickle",
        "open",
        "copyfile",
        "nested",
        "via-module",
        "via-torch",
        "function",
        "interpolation",
        "main",
    ],
)
def test_hostile_model_folder_is_refused(project: Path, net: dict) -> None:
    folder = project / "hostile"
    folder.mkdir()
    with (project / "evil.pkl").open("wb") as handle:
        pickle.dump(RunsCode(project / "PWNED"), handle)
    info = {"format": 2, "net": net, "encoder": ENCODER, "classes": ["0", "1"], "config": {}}
    (folder / "model.json").write_text(json.dumps(info))
    torch.save({}, folder / "model.pt")
    rows = project / "rows.csv"
    rows.write_text("a\n1\n")
    result = run_cli("predict", str(rows), "--model-dir", str(folder), cwd=project)
    assert result.returncode == 2, result.stderr
    assert "refused, nothing was loaded" in result.stderr
    assert "Traceback" not in result.stderr
    for leftover in ("PWNED", "copied", "x", "predictions.csv"):
        assert not (project / leftover).exists(), leftover


def test_pickled_weights_are_refused(project: Path) -> None:
    folder = project / "hostile"
    folder.mkdir()
    net = {"_target_": "mbegu.models.networks.MLP", "in_features": 1, "num_classes": 2}
    info = {"format": 2, "net": net, "encoder": ENCODER, "classes": ["0", "1"], "config": {}}
    (folder / "model.json").write_text(json.dumps(info))
    torch.save({"x": RunsCode(project / "PWNED")}, folder / "model.pt")
    (project / "rows.csv").write_text("a\n1\n")
    result = run_cli("predict", "rows.csv", "--model-dir", str(folder), cwd=project)
    assert result.returncode == 2 and "cannot be loaded as weights" in result.stderr
    assert not (project / "PWNED").exists()


@pytest.mark.slow
def test_pickled_mlflow_model_is_refused(project: Path, client, experiment, tracking_uri) -> None:
    import mlflow
    import mlflow.pyfunc

    class Pickled(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    store = (project / "store").as_uri()
    run = client.create_run(client.create_experiment(experiment, artifact_location=store))
    mlflow.set_tracking_uri(tracking_uri)  # (this sets MLFLOW_TRACKING_URI, as the fixture did)
    with mlflow.start_run(run_id=run.info.run_id):
        mlflow.pyfunc.log_model(name="model", python_model=Pickled())
    (project / "rows.csv").write_text("a\n1\n")
    result = run_cli("predict", "rows.csv", "--run-id", run.info.run_id, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "is not an mbegu model" in result.stderr and "nothing was loaded" in result.stderr


def test_secrets_in_the_config_are_stored_nowhere(project, client, experiment) -> None:
    secret = "pw-0ut-0f-sight"
    cfg = compose([*FAST, f"tracking.experiment_name={experiment}"])
    cfg.tracking.run_name = f"https://u:{secret}@example.invalid/x?token={secret}"
    prepare(cfg)
    result = train(cfg)
    files = [p for p in (project / "artifacts").rglob("*") if p.is_file()]
    files += list((project / "checkpoints" / result.run_id).glob("*.ckpt"))
    assert files
    for path in files:
        assert secret.encode() not in path.read_bytes(), path
    run = client.get_run(result.run_id)
    shown = [run.info.run_name, *run.data.params.values(), *run.data.tags.values()]
    assert not [value for value in shown if secret in value]
    config = Path(client.download_artifacts(result.run_id, "config.yaml")).read_text()
    assert secret not in config and "u:***@example.invalid" in config


def test_password_in_tracking_uri_is_never_printed(project: Path) -> None:
    result = run_cli(
        "train", *FAST, cwd=project, env={"MLFLOW_TRACKING_URI": "http://u:secretpw@127.0.0.1:9"}
    )
    assert_clean_failure(result, "MLflow tracking server http://u:***@127.0.0.1:9", project)
    assert "secretpw" not in result.stderr + result.stdout


@pytest.mark.slow
def test_sigkill_mid_epoch_then_any_command_closes_the_run(project, client, experiment) -> None:
    slow = ["trainer.max_epochs=30", "data.batch_size=16", f"tracking.experiment_name={experiment}"]
    process = start_cli("train", *slow, cwd=project)
    for line in process.stdout:
        if line.startswith("epoch 2/"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    [run] = runs_of(client, experiment)
    assert run.info.status == "RUNNING"  # nobody closed it ...
    other = run_cli("train", *FAST, "tracking.experiment_name=t-after-kill", cwd=project)
    assert other.returncode == 0, other.stderr
    run = client.get_run(run.info.run_id)  # ... until the next command on the store
    assert run.info.status == "KILLED"
    assert run.data.tags["mbegu.error"].startswith(f"its process (pid {process.pid} on ")


def _lock(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=30, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def _locked_run(project: Path, db: Path, experiment: str, hold: float | None, retry: int):
    """Train with mlflow.db locked from epoch 3 on, for `hold` seconds or (None) until the
    process has exited: an error that waits for the lock to go would time out here."""
    args = [
        "trainer.max_epochs=12",
        "data.batch_size=32",
        "callbacks.early_stopping=null",
        f"tracking.experiment_name={experiment}",
        f"tracking.store_retry_seconds={retry}",
    ]
    process = start_cli("train", *args, cwd=project)
    output, locked_for = [], 0.0
    for line in process.stdout:
        output.append(line)
        if line.startswith("epoch 3/"):
            conn = _lock(db)
            start = time.monotonic()
            try:
                if hold is None:
                    output.append(process.communicate(timeout=180)[0])
                else:
                    time.sleep(hold)
            finally:  # never leave the session's store locked for the tests after this one
                locked_for = time.monotonic() - start
                if process.poll() is None and hold is None:
                    process.kill()
                conn.execute("ROLLBACK")
                conn.close()
            break
    if process.returncode is None:
        output.append(process.communicate(timeout=300)[0])
    return process.returncode, "".join(output), locked_for


@pytest.mark.slow
def test_store_locked_briefly_is_waited_for(project, client, experiment, tracking_uri) -> None:
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    code, output, _ = _locked_run(project, db, experiment, hold=4, retry=60)
    assert code == 0, output
    [run] = runs_of(client, experiment)
    assert run.info.status == "FINISHED"
    assert len(client.get_metric_history(run.info.run_id, "val/acc")) == 12


@pytest.mark.slow
def test_store_locked_too_long_is_one_line(project, client, experiment, tracking_uri) -> None:
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    code, output, locked_for = _locked_run(project, db, experiment, hold=None, retry=3)
    assert code == 2, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("mbegu: error:")]
    assert len(errors) == 1, output
    waited = re.search(r"the MLflow store stayed locked for (\d+) s \(", errors[0])
    assert waited and int(waited.group(1)) >= 15, errors[0]  # MLflow's 20 s, not the 3 s asked
    # The command gives up once: one wait of MLflow's 20 s busy_timeout, not one for each
    # write it had left (its last metrics, the run's end), which took a minute.
    assert locked_for < 40, f"exited {locked_for:.0f} s after the lock: {output}"
    assert (
        run_cli("train", *FAST, "tracking.experiment_name=t-after-lock", cwd=project).returncode
        == 0
    )
    [run] = runs_of(client, experiment)
    assert run.info.status in {"FAILED", "KILLED"}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            ["+trainer.max_epoch=5"],
            "trainer has no option 'max_epoch' (did you mean 'max_epochs'?)",
        ),
        (["+model.net.hidden_size=[8]"], "model.net has no option 'hidden_size' (did you mean"),
        (["model.optimizer.weight_decay=-5"], "model.optimizer.weight_decay must be 0 or more"),
        (["model.optimizer.lr=nan"], "model.optimizer.lr must be a positive number: got nan"),
        (["seed=99999999999999999999"], "seed=99999999999999999999 must be an integer from 0"),
        (["data.classes=[0,1,2,3,4]"], "has label='5', not one of the classes ['0', '1'"),
        (["paths.model_dir=../../outside"], "paths.model_dir='../../outside' points outside"),
        (["resume.mode=continue", "resume.run_id=../../x"], "resume.run_id='../../x' is not"),
        (["model.optimizer.lr=1e12"], "train/loss is"),
    ],
)
def test_bad_values_are_one_line(project: Path, overrides: list[str], expected: str) -> None:
    result = call_main("train", *FAST, *overrides, cwd=project)  # what it says: in-process
    assert_clean_failure(result, expected, project)


def test_read_only_artifact_store_is_one_line(project: Path, tmp_path: Path) -> None:
    store = tmp_path / "ro"
    store.mkdir()
    store.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(store, os.W_OK):  # root writes anywhere but on a read-only filesystem
        store = Path("/sys/mbegu-artifacts")
        if not Path("/sys").is_dir():
            pytest.skip("no read-only folder to test with")
    result = run_cli("train", *FAST, f"tracking.artifact_root={store.as_uri()}", cwd=project)
    assert_clean_failure(result, "is not writable", project)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["sweep.n_trials=0"], "sweep.n_trials must be a whole number of at least 1: got 0"),
        (["sweep.workers=0"], "sweep.workers must be a whole number of at least 1: got 0"),
        (["sweep.worker_start=thread"], "sweep.worker_start='thread': use auto, fork or spawn"),
        (["sweep.study_name=../../evil"], "sweep.study_name='../../evil' is not a plain name"),
        (["sweep.study_name=/tmp/evil"], "sweep.study_name='/tmp/evil' is not a plain name"),
        (["sweep.storage=../evil.journal"], "sweep.storage='../evil.journal' points outside"),
        (["sweep=backwards"], "sweep.params.model.net.dropout: interval(0.5, 0.1) is empty"),
    ],
)
def test_bad_sweep_values_are_one_line(project: Path, overrides: list[str], expected) -> None:
    digits = project / "conf" / "sweep" / "default.yaml"
    backwards = digits.read_text().replace("interval(0.0, 0.5)", "interval(0.5, 0.1)")
    (project / "conf" / "sweep" / "backwards.yaml").write_text(backwards)
    result = call_main("sweep", "sweep=default", *FAST, *overrides, cwd=project)
    assert_clean_failure(result, expected, project)
    assert not (project / "sweeps").exists() or not list((project / "sweeps").iterdir())
    assert not (project.parent / "evil.journal").exists()


def test_outputs_honour_the_umask(project: Path) -> None:
    old = os.umask(0o027)
    try:
        cfg = compose(FAST)
        prepare(cfg)
        train(cfg)
    finally:
        os.umask(old)
    for path in [project / "artifacts" / "processed", *(project / "artifacts").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o750 if path.is_dir() else 0o640), (path, oct(mode))
    model = (project / "artifacts" / "model" / "model.json").read_text()
    assert str(project) not in model  # no machine path in a DVC output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_port(port: int, up: bool, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            busy = probe.connect_ex(("127.0.0.1", port)) == 0
        if busy == up:
            return True
        time.sleep(0.5)
    return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_ui_sigterm_stops_the_server_and_a_busy_port_is_one_line(project: Path) -> None:
    port = _free_port()
    ui = start_ui(port, project)
    try:
        assert _wait_port(port, up=True), "the UI never listened"
        second = run_cli("ui", "--port", str(port), cwd=project)
        assert second.returncode == 2
        assert f"port {port} on 127.0.0.1 is in use" in second.stderr
        assert "http://" not in second.stdout  # no URL printed for a server that is not ours
        children = subprocess.run(
            ["pgrep", "-P", str(ui.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
        assert _wait_port(port, up=False, seconds=20), "the port is still taken"
        for child in children:  # the server's own process group is gone too
            assert not _group_alive(int(child))
    finally:
        if ui.poll() is None:
            os.killpg(ui.pid, signal.SIGKILL)
