"""Baselines beside the model: scikit-learn models fitted on the model's own encoded train split
and scored on its test split, in reports/metrics.json, on the MLflow run and in the summaries;
the same scores on every run; tracking.promote_if.above=baseline both ways. Real training,
real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mbegu.config.compose import compose
from mbegu.data.sources import build_data
from mbegu.errors import MbeguError
from mbegu.evaluation.evaluate import evaluate
from mbegu.models.saved import load_model
from mbegu.summary import WIDTH, pipeline_summary
from mbegu.training.train import train

from .helpers.own_data import tweets
from .helpers.project import FAST

pytestmark = pytest.mark.usefixtures("no_running_runs")

NAMES = ("majority", "logreg", "hgb")
SCORES = {"acc", "f1_macro", "f1_weighted"}


def _metrics(project: Path) -> dict:
    return json.loads((project / "reports" / "metrics.json").read_text())


def _line(baseline: dict, names: tuple[str, ...] = NAMES) -> str:
    shown = "  ".join(f"{n} {baseline[n]['acc']:.4f}" for n in names)
    return f"baselines: {shown} (acc)"


def test_baselines_reach_metrics_run_and_summaries(
    project: Path, client, experiment, tracking_uri, capsys
) -> None:
    """All three on digits: metrics.json's baseline block, baseline_<name>_<metric> on the
    run (no `/`: the run page keeps its train/ and val/ curves first), one summary line in
    100 columns; a second evaluate writes the same bytes."""
    cfg = compose(
        [*FAST, f"tracking.experiment_name={experiment}", "tracking.registered_model_name=null"]
    )
    train(cfg)
    capsys.readouterr()
    result = evaluate(cfg)
    said = capsys.readouterr().out.splitlines()
    written = (project / "reports" / "metrics.json").read_bytes()
    baseline = json.loads(written)["baseline"]
    assert set(baseline) == set(NAMES)
    assert all(set(scores) == SCORES for scores in baseline.values())
    assert result["baseline"] == baseline
    # One class in ten is the majority's share; the linear model reads the digits well.
    assert baseline["majority"]["acc"] < 0.2 < 0.9 < baseline["logreg"]["acc"]
    assert baseline["hgb"]["acc"] > 0.9
    logged = client.get_run(result["mlflow_run_id"]).data.metrics
    for name in NAMES:
        for score in SCORES:
            assert logged[f"baseline_{name}_{score}"] == pytest.approx(baseline[name][score])
    assert not [key for key in logged if key.startswith("baseline/")]
    assert said[0].startswith("test: acc ")
    assert said[1] == _line(baseline)
    assert all(len(line) <= WIDTH for line in said if not line.startswith("http"))
    assert _line(baseline) in pipeline_summary(project, tracking_uri, experiment)

    again = evaluate(cfg)
    assert again["baseline"] == baseline
    assert (project / "reports" / "metrics.json").read_bytes() == written


def test_no_baselines_and_promotion_above_them_falls_back_to_chance(
    project: Path, client, experiment, tracking_uri, capsys
) -> None:
    name = f"m-{experiment}"[:60]
    cfg = compose(
        [
            *FAST,
            f"tracking.experiment_name={experiment}",
            f"tracking.registered_model_name={name}",
            "tracking.promote_if.above=baseline",
            "evaluate.baselines=[]",
        ]
    )
    train(cfg)
    capsys.readouterr()
    result = evaluate(cfg)
    said = capsys.readouterr().out
    assert "baseline" not in _metrics(project) and "baseline" not in result
    logged = client.get_run(result["mlflow_run_id"]).data.metrics
    assert not [key for key in logged if key.startswith("baseline")]
    assert "baselines:" not in said
    assert not [
        line for line in pipeline_summary(project, tracking_uri, experiment) if "baselines" in line
    ]
    assert result["promoted"]
    assert "> chance (evaluate.baselines scored none) " in said


def test_promotion_above_baseline_both_ways(project: Path, client, experiment) -> None:
    """The same three-epoch model: above the majority class it is promoted; against all three
    baselines (a logistic regression reads the digits better) it is registered, not promoted,
    and the line names the baseline that won and its score."""
    name = f"m-{experiment}"[:60]
    base = [
        *FAST,
        f"tracking.experiment_name={experiment}",
        f"tracking.registered_model_name={name}",
        "tracking.promote_if.above=baseline",
    ]
    weak_bar = compose([*base, "evaluate.baselines=[majority]"])
    train(weak_bar)
    first = evaluate(weak_bar)
    acc, majority = first["test"]["acc"], first["baseline"]["majority"]["acc"]
    assert first["promoted"]
    assert str(client.get_model_version_by_alias(name, "candidate").version) == "1"
    tag = client.get_run(first["mlflow_run_id"]).data.tags["mbegu.promotion"]
    assert tag == (
        f"promoted: {name} v1 is now @candidate "
        f"(test_acc {acc:.4f} > baseline majority {majority:.4f})"
    )

    second = evaluate(compose(base))
    best, score = max(second["baseline"].items(), key=lambda item: item[1]["acc"])
    assert second["test"]["acc"] == acc
    assert acc <= score["acc"], "the tiny model must not beat the baselines for this test"
    assert not second["promoted"]
    assert {str(v.version) for v in client.search_model_versions(f"name = '{name}'")} == {"1", "2"}
    assert str(client.get_model_version_by_alias(name, "candidate").version) == "1"
    tag = client.get_run(second["mlflow_run_id"]).data.tags["mbegu.promotion"]
    assert tag.startswith(f"not promoted: {name} v2 is registered but @candidate stays")
    assert f"test_acc {acc:.4f} is not above baseline {best} {score['acc']:.4f}" in tag


def test_unknown_baseline_is_one_line_naming_the_valid_ones(project: Path) -> None:
    with pytest.raises(MbeguError, match=r"^evaluate.baselines has svm: the baselines are ") as err:
        compose(["evaluate.baselines=[logreg,svm]"])
    assert "majority, logreg, hgb" in str(err.value)
    with pytest.raises(MbeguError, match=r"use chance, candidate, baseline or a number"):
        compose(["tracking.promote_if.above=baselines"])


def test_text_gets_majority_and_logreg_on_the_encoders_ngrams(project: Path, experiment) -> None:
    """Tweets: no trees (a table's baseline), and the logistic regression reads TF-IDF of the
    n-grams the model's encoder gives each text, counted as scikit-learn counts them."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    from mbegu.data.stage import prepare

    tweets(project / "data" / "tweets")
    cfg = compose(
        [
            "data=text",
            "model=text",
            "data.train_path=data/tweets/train.tsv",
            "data.val_path=data/tweets/dev.tsv",
            "data.test_path=data/tweets/test.tsv",
            "data.text_column=tweet",
            "data.target=sentiment",
            *FAST,
            f"tracking.experiment_name={experiment}",
            "tracking.registered_model_name=null",
        ]
    )
    prepare(cfg)
    train(cfg)
    baseline = evaluate(cfg)["baseline"]
    assert set(baseline) == {"majority", "logreg"}
    assert baseline == _metrics(project)["baseline"]

    encoder = load_model(project / "artifacts" / "model").encoder
    data = build_data(cfg, project)
    data.load()

    vocabulary = {token: i for i, token in enumerate(encoder.vocabulary)}
    counts = CountVectorizer(analyzer=encoder.tokens, vocabulary=vocabulary)
    tfidf = TfidfTransformer(sublinear_tf=True)
    frames = {split: data.frames[split] for split in ("train", "test")}
    x_train = tfidf.fit_transform(counts.transform(frames["train"]["tweet"].tolist()))
    x_test = tfidf.transform(counts.transform(frames["test"]["tweet"].tolist()))
    labels = {s: encoder.labels(f, s) for s, f in frames.items()}
    model = LogisticRegression(max_iter=300, random_state=0).fit(x_train, labels["train"])
    expected = accuracy_score(labels["test"], model.predict(x_test))
    assert baseline["logreg"]["acc"] == pytest.approx(expected, abs=1e-6)
    assert baseline["logreg"]["acc"] > baseline["majority"]["acc"] + 0.2
