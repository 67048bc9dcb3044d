"""reports/model_card.md: written by evaluate, logged to the run, the registered version's
description; the data's md5, rows per split and class, per-class and baseline scores; the same
bytes on a second evaluate; a missing card field is one warning line and "not given". Real
training, real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mbegu.config.compose import compose
from mbegu.data.sources import build_data
from mbegu.evaluation.evaluate import evaluate
from mbegu.tracking.lineage import TAG_DATA_MD5
from mbegu.training.train import train

from .helpers.project import FAST

pytestmark = pytest.mark.usefixtures("no_running_runs")

FILLED = ["card.contact=ml-team@example.org", "card.regions=worldwide"]


def _card(project: Path) -> str:
    return (project / "reports" / "model_card.md").read_text()


def test_card_in_reports_run_and_registry(project: Path, client, experiment, capsys) -> None:
    name = f"m-{experiment}"[:60]
    cfg = compose(
        [
            *FAST,
            *FILLED,
            f"tracking.experiment_name={experiment}",
            f"tracking.registered_model_name={name}",
        ]
    )
    train(cfg)
    capsys.readouterr()
    result = evaluate(cfg)
    assert "model card" not in capsys.readouterr().err  # every field filled: no warning
    written = (project / "reports" / "model_card.md").read_bytes()
    card = written.decode()
    run = client.get_run(result["mlflow_run_id"])
    assert f"- md5: `{run.data.tags[TAG_DATA_MD5]}`" in card
    assert run.info.run_id not in card and str(project) not in card
    data = build_data(cfg, project)
    data.load()
    rows = {split: len(frame) for split, frame in data.frames.items()}
    assert f"- Rows: train {rows['train']}, val {rows['val']}, test {rows['test']}" in card
    assert "- Contact: ml-team@example.org" in card and "not given" not in card
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    three = metrics["test"]["per_class"]["3"]
    assert f"| 3 | {three['precision']:.4f} | {three['recall']:.4f} | {three['f1']:.4f} | " in card
    for baseline, scores in metrics["baseline"].items():
        assert f"| {baseline} | {scores['acc']:.4f} |" in card
    assert f"The test split has {rows['test']} rows" in card
    assert "| epochs run / max | 3 / 3 |" in card

    logged = client.download_artifacts(run.info.run_id, "model_card.md", str(project / "dl"))
    assert Path(logged).read_bytes() == written
    version = client.get_model_version(name, "1")
    assert version.description == card

    evaluate(cfg)
    assert (project / "reports" / "model_card.md").read_bytes() == written


def test_missing_field_warns_once(project: Path, experiment, capfd) -> None:
    cfg = compose(
        [
            *FAST,
            *FILLED,
            "card.licence=null",
            "card.users=[]",
            f"tracking.experiment_name={experiment}",
            "tracking.registered_model_name=null",
            "evaluate.baselines=[majority]",
        ]
    )
    train(cfg)
    capfd.readouterr()
    evaluate(cfg)
    warned = [line for line in capfd.readouterr().err.splitlines() if "model card" in line]
    assert warned == [
        "mbegu: warning: model card: fill card.users, card.licence in conf/ "
        '(reports/model_card.md says "not given")'
    ]
    card = _card(project)
    assert "- Licence: not given" in card and "- Users: not given" in card
