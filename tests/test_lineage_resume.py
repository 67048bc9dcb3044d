"""Lineage, resume and the model's life after training: environment capture, continue after
SIGTERM, fine-tuning, `mbegu predict` through each way of naming a model, the registry."""

from __future__ import annotations

import hashlib
import importlib.metadata
import signal
import sys
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from mbegu.config.compose import compose
from mbegu.data.stage import prepare
from mbegu.errors import MbeguError
from mbegu.evaluation.evaluate import evaluate
from mbegu.inference.batch import predict_file
from mbegu.inference.predict import from_folder, from_mlflow
from mbegu.training.train import train

from .helpers.cli import call_main, run_cli, start_cli
from .helpers.project import FAST, REPO

pytestmark = pytest.mark.usefixtures("no_running_runs")

# Slow enough (small batches) that a signal sent at epoch 5 lands well before epoch 10.
RESUMABLE = ["trainer.max_epochs=10", "data.batch_size=32", "callbacks.early_stopping=null"]


def test_run_captures_its_environment(project, client, experiment) -> None:
    shutil_copy(REPO / "uv.lock", project)
    result = train(compose([*FAST, f"tracking.experiment_name={experiment}"]), outputs="none")
    run = client.get_run(result.run_id)
    import torch

    assert run.data.tags["mbegu.version.torch"] == torch.__version__
    assert run.data.tags["mbegu.version.mbegu"] == importlib.metadata.version("mbegu")
    assert run.data.tags["mbegu.python"] == ".".join(map(str, sys.version_info[:3]))
    assert (
        run.data.tags["mbegu.lock.md5"] == hashlib.md5((REPO / "uv.lock").read_bytes()).hexdigest()
    )
    frozen = client.download_artifacts(result.run_id, "environment/requirements.txt")
    lines = Path(frozen).read_text().splitlines()
    assert f"torch=={torch.__version__}" in lines
    assert any(line.startswith("lightning==") for line in lines)


def test_installed_versions_read_from_folder_names_match_the_metadata() -> None:
    """The fast path (dist-info folder names) gives what importlib's metadata says."""
    import re
    from importlib import metadata

    from mbegu.tracking.lineage import installed_versions

    expected: dict[str, str] = {}
    for dist in metadata.distributions():
        if dist.metadata["Name"]:
            name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
            expected.setdefault(name, dist.version)
    assert len(expected) > 50
    assert installed_versions() == expected


def test_installed_versions_of_odd_layouts_match_the_metadata(tmp_path, monkeypatch) -> None:
    """Escaped versions, two dist-infos of one name, an egg-info: importlib's answers."""
    import re
    from importlib import metadata

    from mbegu.tracking.lineage import installed_versions

    def dist(folder: str, name: str, version: str, file: str = "METADATA") -> None:
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / file).write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )

    dist("Foo_Bar-1.0_beta.dist-info", "Foo_Bar", "1.0-beta")
    dist("dup-1.0.dist-info", "dup", "1.0")
    dist("dup-2.0.dist-info", "dup", "2.0")
    dist("plain_one-3.1+cpu.dist-info", "plain.one", "3.1+cpu")
    dist("old-0.5.egg-info", "old", "0.5", "PKG-INFO")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    expected: dict[str, str] = {}
    for found in metadata.distributions(path=[str(tmp_path)]):
        name = re.sub(r"[-_.]+", "-", found.metadata["Name"]).lower()
        expected.setdefault(name, found.version)
    assert set(expected) == {"foo-bar", "dup", "plain-one", "old"}
    assert installed_versions.__wrapped__() == expected


def shutil_copy(src: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / src.name).write_bytes(src.read_bytes())


def _train_cli(project: Path, *overrides: str, kill_at_epoch: int | None = None):
    """Run `mbegu train`; optionally SIGTERM it once it has printed epoch `kill_at_epoch`."""
    process = start_cli("train", *overrides, cwd=project)
    output = []
    for line in process.stdout:
        output.append(line)
        if kill_at_epoch and line.startswith(f"epoch {kill_at_epoch}/"):
            process.send_signal(signal.SIGTERM)
    process.wait(timeout=300)
    text = "".join(output)
    run_id = next(li.split()[2] for li in output if li.startswith("MLflow run "))
    return process.returncode, run_id, text


@pytest.mark.slow
def test_sigterm_then_continue_matches_uninterrupted(project, client, experiment) -> None:
    common = [
        *RESUMABLE,
        f"tracking.experiment_name={experiment}",
        "tracking.registered_model_name=null",
    ]
    straight_id = train(compose(common)).run_id  # the reference, never interrupted
    straight = evaluate(compose(common))

    code, run_id, text = _train_cli(project, *common, kill_at_epoch=5)
    assert code != 0, "the run finished before SIGTERM arrived"
    assert client.get_run(run_id).info.status == "KILLED"
    checkpoints = project / "checkpoints" / run_id
    assert (checkpoints / "interrupted.ckpt").is_file()
    assert (checkpoints / "last.ckpt").is_file()

    code, continued_id, text = _train_cli(
        project, "resume.mode=continue", f"resume.run_id={run_id}"
    )
    assert code == 0, text
    assert continued_id == run_id
    continued = evaluate(compose(common))

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert continued["test"] == straight["test"]
    for name in ("val/acc", "train/loss"):
        resumed = {m.step: m.value for m in client.get_metric_history(run_id, name)}
        reference = {m.step: m.value for m in client.get_metric_history(straight_id, name)}
        assert resumed == reference
    history = (project / "reports" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 10  # the whole run's history, not just the continued part


def test_finetune_starts_from_the_source_weights(project, client, experiment) -> None:
    base = [*FAST, f"tracking.experiment_name={experiment}"]
    source = train(compose(base), outputs="none")
    fresh_first = client.get_metric_history(source.run_id, "val/loss")[0].value
    tuned = train(
        compose(
            [
                *base,
                "resume.mode=finetune",
                f"resume.run_id={source.run_id}",
                "model.optimizer.lr=0.0005",
            ]
        ),
        outputs="none",
    )
    assert tuned.run_id != source.run_id
    run = client.get_run(tuned.run_id)
    assert run.data.tags["mbegu.finetuned_from"] == source.run_id
    assert run.data.params["model.optimizer.lr"] == "0.0005"
    tuned_first = client.get_metric_history(tuned.run_id, "val/loss")[0].value
    assert tuned_first < fresh_first


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["resume.mode=restart"], "resume.mode='restart' is not one of fresh, continue"),
        (["resume.mode=continue"], "needs resume.run_id=<MLflow run id>"),
        (["resume.mode=finetune", "resume.run_id=0123abc"], "no checkpoint for run 0123abc"),
    ],
)
def test_resume_errors(project, overrides: list[str], expected: str) -> None:
    with pytest.raises(MbeguError, match=expected.replace("(", r"\(").replace("<", "<")):
        train(compose([*FAST, *overrides]))


@pytest.fixture
def evaluated(project, experiment):
    """A trained, evaluated and registered model in a scratch project."""
    name = f"m-{experiment}"[:60]
    cfg = compose(
        [*FAST, f"tracking.experiment_name={experiment}", f"tracking.registered_model_name={name}"]
    )
    prepare(cfg)
    train(cfg)
    return evaluate(cfg), name


@pytest.mark.slow
def test_predict_reproduces_evaluate_through_each_way(project, tracking_uri, evaluated) -> None:
    metrics, name = evaluated
    test_split = project / "artifacts" / "processed" / "test.parquet"
    models = {
        "pipeline": from_folder(project / "artifacts" / "model"),
        "run id": from_mlflow(f"runs:/{metrics['mlflow_run_id']}/model", tracking_uri),
        "registry": from_mlflow(f"models:/{name}@candidate", tracking_uri),
    }
    outputs = {}
    for way, model in models.items():
        out = project / f"pred-{way.replace(' ', '_')}.csv"
        result = predict_file(model, test_split, out)
        assert result["accuracy"] == pytest.approx(metrics["test"]["acc"], abs=1e-6), way
        outputs[way] = pd.read_csv(out)
    columns = list(outputs["pipeline"].columns)
    assert columns[:3] == ["row", "label", "prediction"]  # row: the input's line number
    assert columns[3:] == [f"prob_{k}" for k in range(10)]
    assert outputs["pipeline"]["prediction"].astype(str).tolist() == [
        str(v) for v in outputs["registry"]["prediction"]
    ]
    mlflow.set_tracking_uri(tracking_uri)  # what the README shows for the registry
    try:
        registered = mlflow.pyfunc.load_model(f"models:/{name}@candidate")
    finally:
        mlflow.set_tracking_uri(None)
    frame = pd.read_parquet(test_split)[[f"pixel_{i}" for i in range(64)]].astype(np.float64)
    probs = registered.predict(frame)[[f"prob_{k}" for k in range(10)]].to_numpy()
    assert probs.shape == (len(frame), 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(probs, outputs["pipeline"].iloc[:, 3:], atol=1e-5)
    for way in ("run id", "registry"):
        np.testing.assert_allclose(
            outputs[way].iloc[:, 3:], outputs["pipeline"].iloc[:, 3:], atol=1e-5
        )


@pytest.mark.slow
def test_predict_cli_and_its_errors(project, evaluated) -> None:
    metrics, name = evaluated
    test_split = project / "artifacts" / "processed" / "test.parquet"
    ok = run_cli(
        "predict", str(test_split), "--model", f"{name}@candidate", "-o", "p.csv", cwd=project
    )
    assert ok.returncode == 0, ok.stderr
    assert f"accuracy {metrics['test']['acc']:.4f}" in ok.stdout

    frame = pd.read_parquet(test_split).drop(columns=["pixel_7", "pixel_8"])
    frame.to_csv(project / "partial.csv", index=False)
    lacks = r"lacks 2 column\(s\) the model needs \(pixel_7, pixel_8\)"
    with pytest.raises(MbeguError, match=lacks):
        predict_file(
            from_folder(project / "artifacts" / "model"),
            project / "partial.csv",
            project / "predictions.csv",
        )
    missing = call_main("predict", str(test_split), "--run-id", "0" * 32, cwd=project)
    assert missing.returncode == 2
    assert "no mbegu model at runs:/" in missing.stderr
    assert not (project / "predictions.csv").exists()
