"""What a newcomer reads: stages that end on a few lines fitting 100 columns with a link to the
run's training view and no library chatter, `mbegu compare` in 120 columns, and plots whose
axes say what they show. Real `mbegu`, `dvc` and MLflow store."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mbegu.summary import WIDTH, run_link

from .helpers.cli import run_cli
from .helpers.project import REPO, example

DVC = str(Path(sys.executable).with_name("dvc"))
LINK = re.compile(r"^http://127\.0\.0\.1:5000/#/experiments/\d+/runs/[0-9a-f]{32}\?(.*)$")
NOISE = (
    "INFO",
    "WARNING mlflow",
    "Detected uv project",
    "Failed to resolve installed pip version",
    "Copied ",
    "Creating initial MLflow database tables",
    "logging interval",
    "Registered model",
    "Successfully registered",
    "Created version",
)


def _said(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return (result.stdout + result.stderr).splitlines()


@pytest.mark.slow
def test_stages_end_on_a_short_quiet_summary(project: Path, tmp_path: Path) -> None:
    """On a fresh store: no MLflow or Lightning lines, every line but the link within 100
    columns, and the link opens the run in the training view."""
    from mbegu.config.params import write_params

    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("- debug: null", "- debug: fast"))
    write_params(project / "params.yaml", project)
    # 8 batches an epoch, fewer than log_every_n_steps: Lightning's warning would show.
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'fresh.db'}"}
    said = {
        stage: _said(run_cli(stage, "--params", "params.yaml", cwd=project, env=env))
        for stage in ("prepare", "train", "evaluate")
    }
    run_id = json.loads((project / "artifacts" / "run.json").read_text())["mlflow_run_id"]
    for stage, lines in said.items():
        noisy = [line for line in lines if any(n in line for n in NOISE)]
        assert not noisy, f"{stage}: {noisy}"
        links = [line for line in lines if line.startswith("http")]
        assert all(len(line) <= WIDTH for line in lines if line not in links), lines
        if stage == "prepare":
            assert lines == ["prepared artifacts/processed/ (train 1259, val 269, test 269)"]
            continue
        [link] = links
        assert LINK.match(link) and link.endswith(f"/runs/{run_id}?workflowType=machine_learning")
    assert said["train"][-4].startswith("trained: val/acc ")
    assert said["evaluate"][0].startswith("test: acc ")
    assert said["evaluate"][1].startswith("baselines: majority ")
    assert "promoted: " in "\n".join(said["evaluate"])


def test_run_link_is_the_ui_run_page_in_the_training_view() -> None:
    """The UI's own route for a run (#/experiments/ID/runs/RUN); a server serves its own UI,
    its credentials masked."""
    local = run_link("sqlite:///x/mlflow.db", "3", "ab" * 16)
    assert local == f"http://127.0.0.1:5000/#/experiments/3/runs/{'ab' * 16}" + (
        "?workflowType=machine_learning"
    )
    served = run_link("https://ann:s3cret@mlflow.example.org/", "3", "ab" * 16)
    assert served.startswith("https://ann:***@mlflow.example.org/#/experiments/3/runs/")
    assert "s3cret" not in served


def _scratch_repo(root: Path, *files: str) -> None:
    """A git and DVC repository holding the project's `files`."""
    root.mkdir()
    for command in (["git", "init", "-q"], [DVC, "init", "-q"]):
        subprocess.run(command, cwd=root, check=True, capture_output=True)
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)


def _dvc(root: Path, *args: str) -> str:
    done = subprocess.run([DVC, *args], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_compare_shows_what_each_experiment_changed(tmp_path: Path) -> None:
    """Two experiments saved with the real `dvc exp save`: each row fits 120 columns and names
    the params it changed (a class by its short name), its test accuracy and its run."""
    root = tmp_path / "repo"
    _scratch_repo(root)
    # The example's params (the digits and the MLP), whatever data and model the project uses.
    shutil.copy(example() / "params.yaml", root / "params.yaml")
    (root / "reports").mkdir()
    scores = {"acc": 0.4, "f1_macro": 0.4, "loss": 1.0}
    (root / "reports" / "metrics.json").write_text(json.dumps({"test": scores}))
    (root / "reports" / "run.json").write_text("{}")
    (root / "dvc.yaml").write_text(
        "params:\n  - params.yaml\nmetrics:\n  - reports/metrics.json\n  - reports/run.json\n"
    )
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"],
        cwd=root,
        check=True,
    )
    params = (root / "params.yaml").read_text()
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    changes = {
        "few-epochs": [("max_epochs: 30", "max_epochs: 5")],
        "cnn": [("networks.MLP", "networks.CNN"), ("lr: 0.002", "lr: 0.01")],
    }
    for i, (name, edits) in enumerate(changes.items()):
        text = params
        for old, new in edits:
            text = text.replace(old, new)
        (root / "params.yaml").write_text(text)
        metrics["test"]["acc"] = 0.5 + i / 10
        (root / "reports" / "metrics.json").write_text(json.dumps(metrics))
        link = {"dvc_exp_name": name, "mlflow_run_id": f"{i}" * 32, "model_md5": "x"}
        (root / "reports" / "run.json").write_text(json.dumps(link))
        _dvc(root, "exp", "save", "-q", "-n", name)
    result = run_cli("compare", cwd=root)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= 120 for line in lines), [len(line) for line in lines]
    rows = {line.split()[0]: line for line in lines[1:] if line[:1] != " "}
    assert set(rows) >= {"few-epochs", "cnn"}
    assert "0.5000" in rows["few-epochs"] and "0" * 32 in rows["few-epochs"]
    assert rows["few-epochs"].endswith("trainer.max_epochs=5")
    assert "model.net=CNN" in rows["cnn"] and "1" * 32 in rows["cnn"]
    assert "_partial_" not in result.stdout and "_target_" not in result.stdout
    assert "model.optimizer.lr=0.01" in result.stdout


def test_plots_name_their_axes_and_read_like_the_png(tmp_path: Path) -> None:
    """`dvc plots show --json` on the project's plots: y axes titled after their metric, the
    confusion matrix actual by predicted (rows actual, as in confusion_matrix.png) with its
    counts shown."""
    root = tmp_path / "repo"
    reports = ["reports/history.csv", "reports/confusion.csv", "reports/confusion_matrix.png"]
    plots = [".dvc/config", ".dvc/plots/offline.html", ".dvc/plots/confusion_counts.json"]
    _scratch_repo(root, "dvc.yaml", "params.yaml", *plots, *reports)
    shown = json.loads(_dvc(root, "plots", "show", "--json"))["data"]

    def axes(spec: dict) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        layers = [spec, *spec.get("layer", [])]
        for node in (layer.get("encoding", {}) for layer in layers):
            for axis in ("x", "y"):
                if "title" in node.get(axis, {}):
                    found[axis] = (node[axis]["field"], node[axis]["title"])
        return found

    loss = shown["Loss per epoch"][0]["content"]
    assert axes(loss)["y"][1].startswith("loss") and axes(loss)["x"][1] == "epoch"
    assert axes(shown["Accuracy per epoch"][0]["content"])["y"][1] == "accuracy"
    confusion = shown["Confusion matrix (test)"][0]["content"]
    assert axes(confusion["spec"]) == {"x": ("predicted", "predicted"), "y": ("actual", "actual")}
    [values] = confusion["params"]
    assert values["name"] == "showValues" and values["value"] is True
