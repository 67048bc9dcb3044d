"""The whole loop on a fresh clone, in the README's order: `dvc pull` + `dvc repro` (what
`make run` does after the install) leaves `git status` empty and one finished MLflow run holding
everything, its outputs byte for byte those committed (made in another checkout, with another
MLflow store); two `dvc exp run -S`
are compared by `dvc exp show`, `dvc metrics diff` and `dvc plots diff`; an ad hoc
`mbegu train` and a sweep leave the pipeline alone; the "Next:" step `mbegu data add` prints
for short texts trains as printed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
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

from .helpers.cli import start_ui
from .helpers.own_data import labelled_texts
from .helpers.project import REPO

# One worker runs the module (`make test` runs tests in parallel): its tests share one clone.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e-clone")]


def sh(
    *cmd: str, cwd: Path, check: bool = True, tracking_uri: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_TRACKING_URI", "DVC_", "MBEGU_", "PYTHONDONTWRITEBYTECODE"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # The clone's own code, as a user's clone runs it (bytecode caches and all).
    if (cwd / "src" / "mbegu").is_dir():
        env["PYTHONPATH"] = str(cwd / "src")
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
    pulled = sh("dvc", "pull", "data.dvc", cwd=root, check=False)
    assert pulled.returncode == 0, (
        "a fresh clone cannot restore data.dvc from the project's default remote: `dvc push` "
        f"your data there (after `dvc remote add -d ...`)\n{pulled.stderr[-1500:]}"
    )
    repro = sh("dvc", "repro", cwd=root, tracking_uri=tracking_uri)
    assert "Running stage 'train'" in repro.stdout
    assert "Running stage 'evaluate'" in repro.stdout  # the committed reports do not skip it
    return root


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone with its data pulled and the pipeline run once."""
    if shutil.which("git") is None:
        pytest.skip("git is needed for the end-to-end test")
    return fresh_clone(tmp_path_factory.mktemp("e2e"))


def params_of(root: Path) -> dict:
    """The clone's composed config: the suite follows whatever data the project uses."""
    return yaml.safe_load((root / "params.yaml").read_text())


def experiment_name(root: Path) -> str:
    return params_of(root)["tracking"]["experiment_name"]


def store(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root / 'mlflow.db'}")


def all_runs(root: Path) -> list:
    client = store(root)
    experiment = client.get_experiment_by_name(experiment_name(root))
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time"])


def test_pipeline_outputs(clone: Path) -> None:
    for name in ("train.parquet", "val.parquet", "test.parquet"):
        assert (clone / "artifacts" / "processed" / name).is_file()
    assert sorted(p.name for p in (clone / "artifacts" / "model").iterdir()) == [
        "model.json",
        "model.onnx",
        "model.pt",
    ]
    for name in (
        "metrics.json",
        "history.csv",
        "confusion.csv",
        "confusion_matrix.png",
        "model_card.md",
    ):
        assert (clone / "reports" / name).is_file(), name
    data = params_of(clone)["data"]
    for key in ("path", "train_path", "val_path", "test_path"):
        assert data[key] is None or (clone / data[key]).is_file(), key  # restored by dvc pull
    metrics = json.loads((clone / "reports" / "metrics.json").read_text())
    support = [c["support"] for c in metrics["test"]["per_class"].values()]
    assert metrics["test"]["acc"] > max(support) / sum(support), metrics  # beats the majority
    if data["name"] == "digits":
        assert metrics["test"]["acc"] >= 0.95, metrics
    shown = sh("dvc", "metrics", "show", "--json", cwd=clone).stdout
    assert '"acc"' in shown
    assert "prepare" in sh("dvc", "dag", cwd=clone).stdout


def test_a_clean_clone_reproduces_the_committed_results(clone: Path) -> None:
    """On the machine kind and thread count that made the committed dvc.lock and reports,
    `make run` leaves `git status` empty; elsewhere the same inputs give other last digits,
    and `mbegu repro-check` names the files, the metrics and why, within its tolerance.
    Either way nothing is left for DVC to redo and the run knows its tree was clean."""
    from mbegu.evaluation.committed import TOLERANCE, overall_metrics

    status = sh("git", "status", "--porcelain", cwd=clone).stdout
    said = sh("mbegu", "repro-check", cwd=clone).stdout
    if not status:
        assert "the same bytes as committed" in said, said
    else:
        changed = {line[3:] for line in status.splitlines()}
        outputs = {"dvc.lock", "reports/history.csv", "reports/metrics.json"}
        assert changed <= outputs | {"reports/confusion.csv", "reports/run.json"}, status
        assert "same inputs, other bytes than committed" in said, said
        assert "Keep them: git checkout dvc.lock reports" in said, said
    committed = overall_metrics(sh("git", "show", "HEAD:reports/metrics.json", cwd=clone).stdout)
    now = overall_metrics((clone / "reports" / "metrics.json").read_text())
    assert committed.keys() == now.keys() and committed, (committed, now)
    for name, value in now.items():
        assert value == pytest.approx(committed[name], abs=TOLERANCE), name
    assert "up to date" in sh("dvc", "status", cwd=clone).stdout
    [run] = all_runs(clone)
    assert run.data.tags["mbegu.git.dirty"] == "false"
    head = sh("git", "rev-parse", "HEAD", cwd=clone).stdout.strip()
    assert run.data.tags["mlflow.source.git.commit"] == head
    assert run.data.tags["mbegu.cpu"].split()[0] in ("x86_64", "aarch64", "arm64", "AMD64")
    assert re.fullmatch(r"\d+ \(.+\)", run.data.tags["mbegu.threads"]), run.data.tags


def test_one_finished_run_holds_everything(clone: Path) -> None:
    [run] = all_runs(clone)
    client = store(clone)
    run_id = run.info.run_id
    metrics = json.loads((clone / "reports" / "metrics.json").read_text())
    params = params_of(clone)
    model = params["model"]["net"]["_target_"].rsplit(".", 1)[-1].lower()
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith(f"{model}-{params['data']['name']}-")
    # config
    assert run.data.params["model.optimizer.lr"] == str(params["model"]["optimizer"]["lr"])
    assert run.data.params["seed"] == str(params["seed"])
    assert "config.yaml" in {a.path for a in client.list_artifacts(run_id)}
    # the data version as an MLflow dataset: the md5 of the file(s) the run read
    [dataset] = run.inputs.dataset_inputs
    data_md5 = run.data.tags["mbegu.data.md5"]
    assert (dataset.dataset.name, dataset.dataset.digest) == (params["data"]["name"], data_md5)
    if params["data"]["path"]:
        raw = (clone / params["data"]["path"]).read_bytes()
        assert data_md5 == hashlib.md5(raw).hexdigest()
    # metrics: per epoch from train, test from evaluate
    epochs = len((clone / "reports" / "history.csv").read_text().splitlines()) - 1
    assert len(client.get_metric_history(run_id, "val/acc")) == epochs > 1
    assert run.data.metrics["test_acc"] == pytest.approx(metrics["test"]["acc"])
    # plots and model; the model's page shows the final and test metrics
    assert "plots/confusion_matrix.png" in {a.path for a in client.list_artifacts(run_id, "plots")}
    mlflow.set_tracking_uri(f"sqlite:///{clone / 'mlflow.db'}")
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    finally:
        mlflow.set_tracking_uri(None)
    assert model.metadata.signature is not None
    [logged] = client.search_logged_models([run.info.experiment_id])
    linked = {m.key: m.value for m in logged.metrics or []}
    assert "test_acc" in linked, sorted(linked)
    assert linked["test_acc"] == pytest.approx(metrics["test"]["acc"])
    assert linked["val/acc"] == pytest.approx(run.data.metrics["val/acc"])  # the last epoch's
    registered = params["tracking"]["registered_model_name"]
    version = client.get_model_version_by_alias(registered, "candidate")
    assert version.run_id == run_id
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    # lineage tags
    tags = run.data.tags
    assert tags["mbegu.command"] == "mbegu train --params params.yaml"
    assert tags["mbegu.dvc.stage"] == "train"
    assert tags["mbegu.promotion"].startswith(f"promoted: {registered} v1 is now @candidate")


def test_second_repro_runs_no_stage(clone: Path) -> None:
    again = sh("dvc", "repro", cwd=clone)
    assert "Running stage" not in again.stdout, again.stdout
    assert len(all_runs(clone)) == 1


def test_ui_shows_the_run(clone: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = clone.parent / "ui.log"
    server = start_ui(port, clone, log)
    try:
        remote = MlflowClient(f"http://127.0.0.1:{port}")
        deadline, found = time.monotonic() + 90, None
        while time.monotonic() < deadline and found is None:
            try:
                experiment = remote.get_experiment_by_name(experiment_name(clone))
                found = remote.search_runs([experiment.experiment_id])
            except Exception:
                time.sleep(1)
        assert found is not None, "the UI did not answer within 90 s"
        assert [r.info.run_id for r in found] == [r.info.run_id for r in all_runs(clone)]
        # The link it prints opens the training runs, not MLflow 3's GenAI overview.
        link = f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}"
        said = log.read_text()
        assert f"{link}?workflowType=machine_learning" in said
        # Quiet: no access-log line per request, no notices or warnings nobody can act on.
        for noise in ('"GET /', "Security middleware", "DeprecationWarning", "Registry store"):
            assert noise not in said, said
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_edited_conf_is_not_silently_ignored(clone: Path) -> None:
    status = sh("git", "status", "--porcelain", cwd=clone).stdout
    config = clone / "conf" / "config.yaml"
    original = config.read_text()
    seed = params_of(clone)["seed"]
    config.write_text(re.sub(r"(?m)^seed: \d+", f"seed: {seed + 1}", original))
    try:
        result = sh("dvc", "repro", cwd=clone, check=False)
        assert result.returncode != 0
        said = result.stderr + result.stdout
        assert "params.yaml is stale (" in said
        assert f"seed: conf/ gives {seed + 1}, params.yaml has {seed}" in said
        assert all(r.info.status != "RUNNING" for r in all_runs(clone))
    finally:
        config.write_text(original)
    assert sh("git", "status", "--porcelain", cwd=clone).stdout == status


def exp_show(root: Path) -> dict[str, dict]:
    """`dvc exp show --json` as {experiment name: {"metrics": ..., "baseline": ..., "run": ...}}."""
    rows = json.loads(sh("dvc", "exp", "show", "--json", cwd=root).stdout)
    out = {}
    for commit in rows:
        for experiment in commit.get("experiments") or []:
            for rev in experiment["revs"]:
                metrics = rev["data"]["metrics"]
                out[rev["name"]] = {
                    "metrics": metrics["reports/metrics.json"]["data"]["test"],
                    "baseline": metrics["reports/metrics.json"]["data"].get("baseline"),
                    "run": metrics["reports/run.json"]["data"],
                }
    return out


def test_experiments_compare(clone: Path) -> None:
    before = {r.info.run_id for r in all_runs(clone)}
    for epochs in (5, 6):
        sh("dvc", "exp", "run", "-S", f"trainer.max_epochs={epochs}", cwd=clone)
    new = [r for r in all_runs(clone) if r.info.run_id not in before]
    assert len(new) == 2 and all(r.info.status == "FINISHED" for r in new)

    shown = exp_show(clone)
    assert len(shown) == 2
    by_run = {r.info.run_id: r for r in new}
    for name, row in shown.items():
        assert row["run"]["dvc_exp_name"] == name
        run = by_run[row["run"]["mlflow_run_id"]]
        assert run.info.run_name == name  # the MLflow run is named after the experiment
        assert run.data.metrics["test_acc"] == pytest.approx(row["metrics"]["acc"])
        assert len(run.inputs.dataset_inputs) == 1
        if "logreg" in (params_of(clone).get("evaluate") or {}).get("baselines", []):
            logreg = row["baseline"]["logreg"]["acc"]
            assert run.data.metrics["baseline_logreg_acc"] == pytest.approx(logreg)
    # The baselines see the same split whatever the network's epochs: the same bar for both.
    assert len({json.dumps(row["baseline"]) for row in shown.values()}) == 1
    names = [r.info.run_name for r in all_runs(clone)]
    assert len(set(names)) == len(names) == 3
    compared = sh("mbegu", "compare", cwd=clone).stdout.splitlines()
    assert max(map(len, compared)) <= 120
    for name, row in shown.items():  # each experiment: its change and its run
        [line] = [li for li in compared if li.startswith(f"{name} ")]
        assert row["run"]["mlflow_run_id"] in line and "trainer.max_epochs=" in line

    first, second = sorted(shown)
    diff = sh("dvc", "metrics", "diff", "--all", "--json", cwd=clone)
    assert "failed" not in diff.stderr
    against_head = json.loads(diff.stdout)["reports/metrics.json"]["test.acc"]
    assert (
        against_head["old"]
        == json.loads(sh("git", "show", "HEAD:reports/metrics.json", cwd=clone).stdout)["test"][
            "acc"
        ]
    )
    shown_diff = sh("dvc", "metrics", "diff", "--all", first, second, "--json", cwd=clone)
    between = json.loads(shown_diff.stdout)["reports/metrics.json"]["test.acc"]
    assert (between["old"], between["new"]) == (
        shown[first]["metrics"]["acc"],
        shown[second]["metrics"]["acc"],
    )
    sh("dvc", "plots", "diff", first, second, "-o", "plots-diff", cwd=clone)
    assert '<script src="http' not in (clone / "plots-diff" / "index.html").read_text()


def test_adhoc_train_leaves_the_pipeline_alone(clone: Path) -> None:
    status = sh("git", "status", "--porcelain", cwd=clone).stdout
    adhoc = sh("mbegu", "train", "seed=7", "trainer.max_epochs=2", cwd=clone)
    run_id = next(li.split()[2] for li in adhoc.stdout.splitlines() if li.startswith("MLflow run"))
    assert f"model: checkpoints/{run_id}/model" in adhoc.stdout
    assert "up to date" in sh("dvc", "status", cwd=clone).stdout
    assert sh("git", "status", "--porcelain", cwd=clone).stdout == status
    predicted = sh(
        "mbegu",
        "predict",
        "reports/../artifacts/processed/test.parquet",
        "--run-id",
        run_id,
        cwd=clone,
    )
    assert "accuracy" in predicted.stdout


def test_a_sweep_leaves_the_pipeline_clean_and_its_best_config_trains(clone: Path) -> None:
    """The sweep writes conf/experiment/best_<study>.yaml, which .dvcignore keeps out of the
    stages' conf dependency: `dvc status` stays clean, and the file still retrains."""
    assert "up to date" in sh("dvc", "status", cwd=clone).stdout
    best = clone / "conf" / "experiment" / "best_tiny.yaml"
    try:
        swept = sh(
            "mbegu", "sweep", "sweep=default", "debug=fast", "sweep.n_trials=1",
            "sweep.study_name=tiny", "tracking.experiment_name=e2e-sweep", cwd=clone,
        )  # fmt: skip
        assert best.is_file()
        assert "up to date" in sh("dvc", "status", cwd=clone).stdout
        retrain = next(li for li in swept.stdout.splitlines() if li.startswith("retrain it:"))
        assert retrain == (
            "retrain it: mbegu train experiment=best_tiny  or  dvc exp run -S experiment=best_tiny"
        )
        lr = yaml.safe_load(best.read_text())["model"]["optimizer"]["lr"]
        trained = sh("mbegu", "train", "experiment=best_tiny", cwd=clone)
        run_id = re.search(r"MLflow run (\w{32})", trained.stdout)
        assert run_id, trained.stdout
        params = store(clone).get_run(run_id.group(1)).data.params
        assert float(params["model.optimizer.lr"]) == lr
        # `dvc exp run -S` composes conf/ with DVC's own Hydra call: the file is found there.
        from dvc.utils.hydra import compose_and_dump

        composed = clone / ".mbegu" / "exp-params.yaml"
        conf = str(clone / "conf")
        compose_and_dump(composed, conf, None, "config", str(clone), ["experiment=best_tiny"])
        assert yaml.safe_load(composed.read_text())["model"]["optimizer"]["lr"] == lr
    finally:
        best.unlink(missing_ok=True)
        shutil.rmtree(clone / "sweeps", ignore_errors=True)


def next_step(printed: str) -> list[str]:
    """The command after "Next: " in what mbegu printed, as words."""
    found = re.search(r"Next: (.+)$", printed, re.MULTILINE)
    assert found, printed
    return shlex.split(found.group(1))


def test_data_add_text_prints_next_steps_that_train(tmp_path: Path, tracking_uri: str) -> None:
    """A newcomer's short texts on a fresh clone: each step `mbegu data add --text` prints
    runs as printed and trains the text model on them."""
    root = tmp_path / "mbegu"
    sh("git", "clone", "--quiet", str(REPO), str(root), cwd=REPO)
    labelled_texts(root / "data" / "maoni.tsv")
    add = ("mbegu", "data", "add", "data/maoni.tsv", "--text", "text", "--target", "label")
    kept = sh(*add, "--no-use", cwd=root)  # the pipeline keeps its data and model
    text_model = params_of(root)["model"]["net"]["_target_"].endswith("BagOfNgrams")
    wanted = ["mbegu", "train", "data=maoni", *([] if text_model else ["model=text"])]
    assert next_step(kept.stdout) == wanted
    trained = sh(*next_step(kept.stdout), cwd=root, tracking_uri=tracking_uri)
    assert "trained:" in trained.stdout

    used = sh(*add, cwd=root)
    assert "conf/config.yaml now uses data: maoni, model: text" in used.stdout
    assert next_step(used.stdout) == ["dvc", "repro"]
    sh(*next_step(used.stdout), cwd=root, tracking_uri=tracking_uri)
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert list(metrics["test"]["per_class"]) == ["negative", "neutral", "positive"]
    assert params_of(root)["model"]["net"]["_target_"] == "mbegu.models.networks.BagOfNgrams"
    # The sweep's space fits the text model: every key it searches is in the config.
    space = yaml.safe_load((root / "conf" / "sweep" / "default.yaml").read_text())["params"]
    for key in space:
        node = params_of(root)
        for part in key.split("."):
            node = node[part]
