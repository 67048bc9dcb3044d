"""Your own data from config alone: a survey table and tweets, end to end to a served model.

The suite writes its own data and composes its own configs (data=table / data=text), so it
stays green whatever the user's conf/ points at.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import unicodedata
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from mbegu.config.compose import compose
from mbegu.data.sources import TableData, TextData
from mbegu.data.split import SPLITS, read_split
from mbegu.errors import MbeguError
from mbegu.features.text import tokens

from .helpers.cli import call_main, per_class_rows, run_cli
from .helpers.own_data import survey_csv, tweets
from .helpers.project import FAST

TABLE = ["data=table", "data.path=data/survey.csv", "data.target=answer", "data.drop=[id]"]


def text_overrides(folder: str = "data/tweets") -> list[str]:
    return [
        "data=text",
        "model=text",
        f"data.train_path={folder}/train.tsv",
        f"data.val_path={folder}/dev.tsv",
        f"data.test_path={folder}/test.tsv",
        "data.text_column=tweet",
        "data.target=sentiment",
    ]


def given_splits(paths: dict[str, Path], tmp_path: Path) -> dict[str, str]:
    """TextData options for the tweets' given train/dev/test files."""
    return {
        "text_column": "tweet",
        "train_path": str(paths["train"]),
        "val_path": str(paths["dev"]),
        "test_path": str(paths["test"]),
        "processed_dir": str(tmp_path / "out"),
    }


def table(path: Path, tmp_path: Path, **options) -> TableData:
    return TableData(
        "answer", path=str(path), drop=["id"], processed_dir=str(tmp_path / "out"), **options
    )


def test_table_keeps_values_and_encodes_categories(tmp_path: Path) -> None:
    raw = survey_csv(tmp_path / "survey.csv")
    data = table(raw, tmp_path)
    data.prepare()
    encoder = data.load()
    assert encoder.numeric == ["age", "income"] and encoder.categorical == ["region"]
    assert encoder.classes == ["no", "yes"]  # string labels, from the data
    assert data.sizes == {"in_features": 2 + 4, "num_classes": 2}
    # The split's files hold the source's cells, character for character (2.72 stays 2.72).
    source = pd.read_csv(raw, dtype=str, keep_default_na=False).set_index("id")
    splits = [read_split(tmp_path / "out" / f"{split}.parquet") for split in SPLITS]
    for split, frame in zip(SPLITS, splits, strict=True):
        written = frame.set_index("id")
        assert written.equals(source.loc[written.index]), split
    assert "2.72" in set(pd.concat(splits)["age"])
    rows = pd.DataFrame(
        {"region": ["Kano", "Mombasa"], "age": ["2.72", "40"], "income": [10.0, 20.0]}
    )
    x = encoder.transform(rows)
    assert x[0, 2:].tolist() == [0, 1, 0, 0]  # Kano, one-hot among the sorted regions
    assert x[1, 2:].tolist() == [0, 0, 0, 0]  # an unseen region: no category, no crash
    assert float(x[0, 0]) == pytest.approx((2.72 - encoder.means[0]) / encoder.scales[0])


def test_a_stray_word_in_a_numeric_column_is_refused(tmp_path: Path) -> None:
    raw = survey_csv(tmp_path / "survey.csv")
    lines = raw.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 2)[0] + ",abc," + lines[3].rsplit(",", 1)[1]
    raw.write_text("\n".join(lines) + "\n")
    with pytest.raises(MbeguError, match="column income holds numbers but also 'abc'"):
        table(raw, tmp_path).prepare()
    # Said explicitly, the column is categories: the user's call, and it trains.
    as_categories = table(raw, tmp_path, categorical=["region", "income"])
    assert "income" in as_categories.load().categorical


def test_missing_values_under_each_policy(tmp_path: Path) -> None:
    raw = survey_csv(tmp_path / "survey.csv", gaps=True)
    with pytest.raises(MbeguError, match=r"survey.csv row 5 column age is missing: fill it"):
        table(raw, tmp_path).prepare()
    dropped = table(raw, tmp_path, missing="drop")
    assert sum(dropped.prepare().values()) == 400 - 4  # rows 3, 5, 7, 9
    imputed = table(raw, tmp_path, missing="impute")
    assert sum(imputed.prepare().values()) == 400 - 1  # only the row without an answer
    encoder = imputed.load()
    train = imputed.frames["train"]
    assert encoder.fills["age"] == pytest.approx(pd.to_numeric(train["age"]).median())
    gap = pd.DataFrame({"region": [None], "age": [None], "income": [1.0]})
    assert encoder.transform(gap).shape == (1, 6)  # filled, as in training
    strict = dropped.load()
    with pytest.raises(MbeguError, match=r"row 2 column age is missing: fill it \(the model"):
        strict.transform(gap)


def test_given_splits_are_used_as_they_are(tmp_path: Path) -> None:
    paths = tweets(tmp_path / "tweets")
    data = TextData("sentiment", **given_splits(paths, tmp_path))
    assert data.prepare() == {"train": 300, "val": 90, "test": 90}
    assert data.load().classes == ["negative", "neutral", "positive"]
    test = pd.read_csv(paths["test"], sep="\t")
    assert data.frames["test"]["tweet"].tolist() == test["tweet"].tolist()


@pytest.mark.parametrize(
    "text",
    ["Ẹ káàbọ̀, ọjà ṣé dáadáa? 😀", "Na gode ƙwarai, ɗanɗano mai kyâu! ɓarna ƴan"],
    ids=["yoruba", "hausa"],
)
def test_text_keeps_letters_and_nfd_gives_the_same_tokens(text: str) -> None:
    decomposed = unicodedata.normalize("NFD", text)
    assert decomposed != text
    assert tokens(decomposed) == tokens(text)
    words = [t[2:] for t in tokens(text) if t.startswith("w:")]
    for word in ("ọjà", "ṣé", "ƙwarai", "ɗanɗano", "ɓarna", "ƴan", "káàbọ̀"):
        if word in text.lower():
            assert unicodedata.normalize("NFC", word) in words


def test_vocabulary_comes_from_train_only(tmp_path: Path) -> None:
    paths = tweets(tmp_path / "tweets")
    test = pd.read_csv(paths["test"], sep="\t")
    test.loc[0, "tweet"] = "zzzunseen"
    test.to_csv(paths["test"], sep="\t", index=False)
    data = TextData("sentiment", **given_splits(paths, tmp_path))
    encoder = data.load()
    assert "w:zzzunseen" not in encoder.vocabulary
    ids, offsets, _ = encoder.encode(["zzzunseen", "na gode"])
    assert offsets.tolist() == [0, 0]  # the unseen text has no known token
    assert len(ids) > 0


def _pipeline(project: Path, overrides: list[str], experiment: str) -> dict:
    """prepare -> train -> evaluate in this process, as the DVC stages run them."""
    from mbegu.data.stage import prepare
    from mbegu.evaluation.evaluate import evaluate
    from mbegu.training.train import train

    cfg = compose([*overrides, f"tracking.experiment_name={experiment}"])
    prepare(cfg)
    train(cfg)
    return evaluate(cfg)


@pytest.mark.slow
def test_table_train_predict_matches_evaluate(project: Path, client, experiment) -> None:
    survey_csv(project / "data" / "survey.csv", rows=600, gaps=True)
    overrides = [
        *TABLE,
        *FAST,
        "data.missing=impute",
        f"tracking.registered_model_name={experiment}",
    ]
    metrics = _pipeline(project, overrides, experiment)
    test = metrics["test"]
    assert set(test) >= {"acc", "f1_macro", "f1_weighted", "roc_auc", "loss", "per_class"}
    assert list(test["per_class"]) == ["no", "yes"]
    confusion = pd.read_csv(project / "reports" / "confusion.csv")
    assert set(confusion.actual) == {"no", "yes"}
    run = client.get_run(metrics["mlflow_run_id"])
    assert not [k for k in run.data.metrics if k.startswith(("test/class/", "test_class"))]
    table = per_class_rows(client, run.info.run_id, project / "dl")
    assert table["yes"]["f1"] == test["per_class"]["yes"]["f1"]
    # The registered model takes the survey's own columns: region as text, age with gaps.
    rows = project / "artifacts" / "processed" / "test.parquet"
    for way in (["--model", f"{experiment}@candidate"], ["--model-dir", "artifacts/model"]):
        result = run_cli("predict", str(rows), *way, "-o", "p.csv", "--force", cwd=project)
        assert result.returncode == 0, result.stderr
        assert f"accuracy {test['acc']:.4f}" in result.stdout
    out = pd.read_csv(project / "p.csv")
    assert list(out.columns) == ["id", "answer", "prediction", "prob_no", "prob_yes"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_text_pipeline_and_served_model_answer_a_raw_sentence(
    project: Path, client, experiment, tracking_uri
) -> None:
    tweets(project / "data" / "tweets", nfd=True)  # decomposed input must not matter
    overrides = [*text_overrides(), *FAST, "tracking.registered_model_name=null"]
    metrics = _pipeline(project, overrides, experiment)
    assert metrics["test"]["f1_weighted"] > 0.6  # the labels are learnable (chance: ~0.33)
    result = run_cli(
        "predict", "data/tweets/test.tsv", "--run-id", metrics["mlflow_run_id"], cwd=project
    )
    assert f"accuracy {metrics['test']['acc']:.4f}" in result.stdout, result.stderr

    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    uri = f"runs:/{metrics['mlflow_run_id']}/model"
    server = subprocess.Popen(
        [str(mlflow), "models", "serve", "-m", uri, "-p", str(port), "--env-manager", "local"],
        cwd=project,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "PATH": f"{mlflow.parent}{os.pathsep}{os.environ['PATH']}",  # its uvicorn
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        body = json.dumps({"dataframe_records": [{"tweet": "Ẹ káàbọ̀, na gode ƙwarai"}]})
        answer = None
        for _ in range(120):
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/invocations",
                    data=body.encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    answer = json.loads(response.read())
                break
            except urllib.error.HTTPError as err:  # it answered, with an error: say which
                pytest.fail(f"the served model refused a sentence: {err.read()[:300]!r}")
            except OSError:
                time.sleep(0.5)
        assert answer is not None, "the served model never answered"
        [row] = answer["predictions"]
        assert row["prediction"] == "positive"
        # The names `mbegu predict` writes (mbegu.models.answers).
        probs = [row[f"prob_{c}"] for c in ("negative", "neutral", "positive")]
        assert sum(probs) == pytest.approx(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_data_add_writes_a_config_that_trains(project: Path) -> None:
    """`mbegu data add` describes the file, switches conf/ to it and versions data/."""
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True, env={**os.environ, "PATH": _venv_path()})
    survey_csv(project / "data" / "survey.csv", gaps=True)
    result = run_cli(
        "data",
        "add",
        "data/survey.csv",
        "--target",
        "answer",
        cwd=project,
        env={"PATH": _venv_path()},
    )
    assert result.returncode == 0, result.stderr
    assert "dvc push` would copy it into .dvc/storage" not in result.stdout  # no remote yet
    written = (project / "conf" / "data" / "survey.yaml").read_text()
    for line in (
        'classes: ["no", "yes"]',
        'categorical: ["region"]',
        "missing: impute",
        'drop: ["id"]',
        "# Missing values: region 1, age 2, answer 1",
    ):
        assert line in written, written
    cfg = compose(FAST, root=project)
    assert cfg.data.name == "survey"
    assert cfg.tracking.experiment_name == f"{cfg.project.name}-survey"
    assert (project / "data.dvc").is_file()
    assert yaml_load(project / "params.yaml")["data"]["path"] == "data/survey.csv"
    bad = run_cli("data", "add", "data/survey.csv", "--target", "nope", cwd=project)
    assert bad.returncode == 2 and "has no column 'nope' (--target)" in bad.stderr


@pytest.mark.slow  # three DVC commands: 5 s
def test_data_add_follows_the_configured_data_dir(project: Path) -> None:
    """With paths.data_dir moved, `mbegu data add` takes files from that folder and versions
    it: the folder the pipeline's prepare stage depends on (data.dir), not data/."""
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True, env={**os.environ, "PATH": _venv_path()})
    paths = project / "conf" / "paths" / "default.yaml"
    paths.write_text(paths.read_text().replace("data_dir: data ", "data_dir: inputs/raw "))
    survey_csv(project / "data" / "survey.csv")
    survey_csv(project / "inputs" / "raw" / "survey.csv")
    digits_dvc = (project / "data.dvc").read_bytes()
    env = {"PATH": _venv_path()}
    outside = call_main("data", "add", "data/survey.csv", "--target", "answer", cwd=project)
    assert outside.returncode == 2
    assert "not in the project's data folder inputs/raw/ (data.dir)" in outside.stderr
    assert "cp data/survey.csv inputs/raw/" in outside.stderr

    added = call_main(
        "data", "add", "inputs/raw/survey.csv", "--target", "answer", cwd=project, env=env
    )
    assert added.returncode == 0, added.stderr
    assert "versioned inputs/raw/ (inputs/raw.dvc)" in added.stdout
    assert (project / "inputs" / "raw.dvc").is_file()  # `dvc add inputs/raw`, not data/
    assert (project / "data.dvc").read_bytes() == digits_dvc
    written = (project / "conf" / "data" / "survey.yaml").read_text()
    assert 'path: "inputs/raw/survey.csv"' in written, written
    params = yaml_load(project / "params.yaml")["data"]
    assert params["dir"] == "inputs/raw" and params["path"] == "inputs/raw/survey.csv"


def test_data_add_refuses_a_data_dir_outside_the_project(project: Path) -> None:
    """paths.data_dir is a user string: `data add` never reads or versions a folder outside
    the project, and leaves conf/ as it was."""
    paths = project / "conf" / "paths" / "default.yaml"
    paths.write_text(paths.read_text().replace("data_dir: data ", "data_dir: ../elsewhere "))
    before = (project / "conf" / "config.yaml").read_text()
    survey_csv(project.parent / "elsewhere" / "survey.csv")
    result = call_main("data", "add", "../elsewhere/survey.csv", "--target", "answer", cwd=project)
    assert result.returncode == 2
    assert "data.dir='../elsewhere' points outside the project" in result.stderr
    assert (project / "conf" / "config.yaml").read_text() == before
    assert not (project / "conf" / "data" / "survey.yaml").exists()


def _venv_path() -> str:
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def yaml_load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def test_parquet_reads_like_the_csv_it_is_split_into(tmp_path: Path) -> None:
    """Labels with gaps (floats in Parquet), booleans and float categories keep one spelling
    from the source through the split's CSV files, so training reads what prepare fitted."""
    frame = pd.read_csv(survey_csv(tmp_path / "survey.csv"))
    frame["answer"] = (frame["answer"] == "yes").astype(float)  # 0.0 / 1.0
    frame["member"] = frame["id"] % 2 == 0
    frame["size"] = (frame["id"] % 3).astype(float) + 0.5
    frame.loc[1, "answer"] = None
    frame.to_parquet(tmp_path / "survey.parquet")
    options = {"categorical": ["region", "member", "size"], "missing": "drop"}
    data = table(tmp_path / "survey.parquet", tmp_path, **options)
    data.prepare()
    again = table(tmp_path / "survey.parquet", tmp_path, **options)  # from the split's CSVs
    encoder = again.load()
    assert encoder.classes == ["0", "1"]
    assert encoder.categories["member"] == ["False", "True"]
    assert encoder.categories["size"] == ["0.5", "1.5", "2.5"]
    assert encoder.to_dict() == data.build()[1].to_dict()
    x, _ = again.tensors("test")
    assert float(x[:, 2:].sum()) == 3 * len(x)  # one category of each of the three, every row


def test_small_or_odd_data_is_one_line(tmp_path: Path) -> None:
    from mbegu.features.labels import sort_classes

    assert sort_classes({"1.0", "1", "2"}) == ["1", "1.0", "2"]  # the same order every run
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("x,y\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(6)))
    with pytest.raises(MbeguError, match="the val split has no rows"):
        TableData("y", path=str(tiny), processed_dir=str(tmp_path / "out")).prepare()
    paths = tweets(tmp_path / "tweets")
    test = pd.read_csv(paths["test"], sep="\t").rename(columns={"tweet": "text"})
    test.to_csv(paths["test"], sep="\t", index=False)
    given = TextData("sentiment", **given_splits(paths, tmp_path))
    with pytest.raises(MbeguError, match=r"test.tsv lacks 1 column\(s\) the model needs \(tweet\)"):
        given.prepare()
    with pytest.raises(MbeguError, match=r"data.char_ngrams=\[3\]: give \[shortest, longest\]"):
        TextData("sentiment", path=str(paths["train"]), char_ngrams=[3])


def test_missing_text_is_empty_text_under_impute(tmp_path: Path) -> None:
    paths = tweets(tmp_path / "tweets")
    train = pd.read_csv(paths["train"], sep="\t")
    train.loc[4, "tweet"] = None
    train.to_csv(paths["train"], sep="\t", index=False)
    options = given_splits(paths, tmp_path)
    with pytest.raises(MbeguError, match=r"train.tsv row 6 column tweet is missing"):
        TextData("sentiment", **options).prepare()
    encoder = TextData("sentiment", missing="impute", **options).load()
    ids, offsets, _ = encoder.transform(pd.DataFrame({"tweet": [None, "na gode"]}))
    assert offsets.tolist() == [0, 0] and len(ids) > 0


def test_a_tweet_that_starts_with_a_quote_keeps_it(tmp_path: Path) -> None:
    """Raw TSV corpora do not escape quotes: every character of a tab-separated file is text,
    through the prepared split (a CSV, quoted by pandas) and back."""
    paths = tweets(tmp_path / "tweets")
    quoted = '"Allah ya kiyaye" inji shi, ọ̀rọ̀ "burúkú'
    lines = paths["train"].read_text(encoding="utf-8").splitlines()
    lines[1] = f"{quoted}\t{lines[1].rsplit(chr(9), 1)[1]}"
    paths["train"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    options = given_splits(paths, tmp_path)
    TextData("sentiment", **options).prepare()
    prepared = TextData("sentiment", **options)
    prepared.load()
    assert prepared.frames["train"]["tweet"][0] == quoted
    from mbegu.data.files import read_frame

    # What CSV quoting would have made of it (data.quoting=csv): the quotes taken as syntax.
    assert read_frame(paths["train"], quoting="csv")["tweet"][0] != quoted
