"""Bad input that used to pass in silence: each case is one line through the real `mbegu`
command (or a warning that names it), and the user's data is never altered."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from .helpers.cli import per_class_rows, run_cli
from .helpers.models import untrained_model
from .helpers.own_data import survey_csv
from .test_cli_errors import assert_clean_failure

pytestmark = pytest.mark.usefixtures("no_running_runs")

SURVEY = ["data=table", "data.path=data/survey.csv", "data.target=answer"]


@pytest.fixture
def survey_model(project: Path) -> Path:
    """data/survey.csv (gaps imputed, ids dropped) and an mbegu model of it."""
    survey_csv(project / "data" / "survey.csv", rows=60)
    return untrained_model(project, [*SURVEY, "data.drop=[id]", "data.missing=impute"])


@pytest.mark.slow
@pytest.mark.parametrize("output", ["data/survey.csv", "./data/../data/survey.csv", "data/p.csv"])
def test_predict_never_writes_over_the_input_or_into_data(
    project: Path, survey_model: Path, output: str
) -> None:
    raw = project / "data" / "survey.csv"
    before = raw.read_bytes()
    result = run_cli(
        "predict", "data/survey.csv", "--model-dir", "models/m", "-o", output, cwd=project
    )
    expected = "is the input file itself" if "survey" in output else "lies inside the data folder"
    assert_clean_failure(result, expected, project)
    assert "-o predictions.csv" in result.stderr
    assert raw.read_bytes() == before
    assert sorted(p.name for p in raw.parent.iterdir()) == ["digits.csv", "survey.csv"]


@pytest.mark.slow
@pytest.mark.parametrize("link", ["data/secret.csv", "checkpoints"])
def test_a_link_that_leads_outside_the_project_is_refused(
    project: Path, tmp_path: Path, link: str
) -> None:
    outside = tmp_path / "outside"
    survey_csv(outside / "survey.csv", rows=60)
    if link == "checkpoints":
        (project / link).symlink_to(outside, target_is_directory=True)
        args = ["train", "debug=fast", "tracking.experiment_name=t-link"]
    else:
        (project / link).symlink_to(outside / "survey.csv")
        args = ["train", "data=table", f"data.path={link}", "data.target=nope"]
    result = run_cli(*args, cwd=project)
    assert_clean_failure(result, "leads outside the project", project)
    assert link in result.stderr and "region" not in result.stderr  # nothing of it was read
    assert sorted(p.name for p in outside.iterdir()) == ["survey.csv"]  # nothing written


@pytest.mark.parametrize("cache", ["inside", "outside"])
def test_data_linked_into_the_dvc_cache_is_read(project: Path, tmp_path: Path, cache: str) -> None:
    """`dvc pull` with cache.type symlink: data/digits.csv leads into DVC's cache, inside the
    project (.dvc/cache) or where .dvc/config's cache.dir says."""
    folder = project / ".dvc" / "cache" if cache == "inside" else tmp_path / "shared-cache"
    (project / ".dvc").mkdir(exist_ok=True)
    if cache == "outside":
        (project / ".dvc" / "config").write_text(f"[cache]\n    dir = {folder}\n")
    cached = folder / "files" / "md5" / "ab" / "cdef"
    cached.parent.mkdir(parents=True)
    raw = project / "data" / "digits.csv"
    raw.rename(cached)
    raw.symlink_to(cached)
    result = run_cli("prepare", "--params", "params.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (project / "artifacts" / "processed" / "train.parquet").is_file()


def _duplicated(project: Path) -> None:
    raw = survey_csv(project / "data" / "survey.csv", rows=60)
    lines = raw.read_text().splitlines()
    header = lines[0].split(",")
    assert header == ["id", "region", "age", "income", "answer"]
    lines[0] = "id,region,age,age,answer"  # income mislabelled as a second age
    raw.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "data add"])
def test_duplicate_column_names_are_one_line(project: Path, command: str) -> None:
    _duplicated(project)
    if command == "train":
        args = ["train", *SURVEY, "debug=fast", "tracking.experiment_name=t-duplicate"]
    else:
        args = ["data", "add", "data/survey.csv", "--target", "answer"]
    before = (project / "conf" / "config.yaml").read_text()
    result = run_cli(*args, cwd=project)
    assert_clean_failure(result, "data/survey.csv has the column name 'age' twice", project)
    assert "rename" in result.stderr
    assert (project / "conf" / "config.yaml").read_text() == before
    assert not (project / "conf" / "data" / "survey.yaml").exists()


def use_data(project: Path, name: str, options: dict[str, object]) -> None:
    """conf/data/<name>.yaml on top of data=table, picked in conf/config.yaml, params.yaml
    composed from it: what `mbegu prepare --params params.yaml` (the DVC stage) reads."""
    import json
    import re

    from mbegu.config.params import write_params

    lines = ["defaults:", "  - table", "  - _self_", f"name: {name}"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in options.items()]
    (project / "conf" / "data" / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    config = project / "conf" / "config.yaml"
    config.write_text(re.sub(r"(?m)^(\s*- data: )\S+", rf"\g<1>{name}", config.read_text()))
    write_params(project / "params.yaml", project)


LOOK_ALIKE = ["Positive", "positive ", "POSITIVE", "positive", "negative"]


@pytest.mark.parametrize("normalize", [False, True])
def test_look_alike_labels_are_named_or_merged(project: Path, normalize: bool) -> None:
    raw = project / "data" / "looks.csv"
    rows = [f"{i},{LOOK_ALIKE[i % 5] if i % 2 else 'negative'}" for i in range(100)]
    raw.write_text("x,answer\n" + "\n".join(rows) + "\n")
    before = raw.read_bytes()
    options: dict[str, object] = {"path": "data/looks.csv", "target": "answer"}
    if normalize:
        options["label_normalize"] = True
    use_data(project, "looks", options)
    result = run_cli("prepare", "--params", "params.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    encoder = json.loads((project / "artifacts" / "processed" / "encoder.json").read_text())
    warned = [line for line in result.stderr.splitlines() if line.startswith("mbegu: warning:")]
    if normalize:
        assert encoder["classes"] == ["negative", "positive"]
        assert not warned
        assert "'POSITIVE' -> 'positive', 'Positive' -> 'positive'" in result.stdout
        assert "'positive ' -> 'positive'" in result.stdout
    else:
        assert encoder["classes"] == sorted(set(LOOK_ALIKE))  # kept as they are
        [line] = warned
        assert "('POSITIVE', 'Positive', 'positive', 'positive ')" in line, line
        assert "data.label_normalize=true" in line
    assert raw.read_bytes() == before


@pytest.mark.slow
def test_class_names_that_differ_only_in_symbols_keep_their_metrics(project: Path, client) -> None:
    """`<50K` and `>50K` both sanitise to `_50K`: one row and one key each in the run's
    per-class table, and the mapping logged with the run."""
    raw = project / "data" / "income.csv"
    rows = [f"{i % 7},{'<50K' if i % 7 < 3 else '>50K'}" for i in range(120)]
    raw.write_text("years,income\n" + "\n".join(rows) + "\n")
    use_data(project, "income", {"path": "data/income.csv", "target": "income"})
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("- debug: null", "- debug: fast"))
    from mbegu.config.params import write_params

    write_params(project / "params.yaml", project)
    for stage in ("prepare", "train", "evaluate"):
        result = run_cli(stage, "--params", "params.yaml", cwd=project)
        assert result.returncode == 0, result.stderr
    run_id = json.loads((project / "artifacts" / "run.json").read_text())["mlflow_run_id"]
    metrics = json.loads((project / "reports" / "metrics.json").read_text())["test"]
    table = per_class_rows(client, run_id, project / "table")
    assert list(table) == ["<50K", ">50K"]
    for name, key in (("<50K", "_50K"), (">50K", "_50K_2")):
        assert table[name]["key"] == key
        for score in ("precision", "recall", "f1", "support"):
            assert table[name][score] == metrics["per_class"][name][score]
    saved = Path(client.download_artifacts(run_id, "class_names.json", str(project / "dl")))
    assert json.loads(saved.read_text()) == {"<50K": "_50K", ">50K": "_50K_2"}


def _rows(project: Path, name: str, lines: list[str]) -> Path:
    raw = survey_csv(project / "data" / "survey.csv", rows=60).read_text().splitlines()
    path = project / name
    path.write_text("\n".join([raw[0], *lines]) + "\n")
    return path


@pytest.mark.slow
def test_predict_answers_every_line_and_says_which(project: Path, survey_model: Path) -> None:
    """A blank line is a row of missing values: imputed by a model trained with
    data.missing=impute, one line naming it for a model that refuses gaps."""
    good = ["5,Kano,30.5,12.0,yes", "6,Lagos,41.0,3.5,no", "7,Nairobi,25.0,8.0,no"]
    _rows(project, "rows.csv", [good[0], "", good[1]])
    result = run_cli("predict", "rows.csv", "--model-dir", "models/m", "-o", "p.csv", cwd=project)
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(project / "p.csv", dtype=str, keep_default_na=False)
    assert list(out.columns) == ["id", "answer", "prediction", "prob_no", "prob_yes"]
    assert out["id"].tolist() == ["5", "", "6"]  # the id column data.drop names
    assert out["answer"].tolist() == ["yes", "", "no"]
    assert all(out["prediction"].isin(["no", "yes"]))  # the blank line answered too

    untrained_model(project, SURVEY, folder="models/strict")  # data.missing=error, ids kept
    result = run_cli(
        "predict", "rows.csv", "--model-dir", "models/strict", "-o", "q.csv", cwd=project
    )
    assert_clean_failure(result, "rows.csv row 3 column id is missing: fill it", project)
    assert not (project / "q.csv").exists()
    _rows(project, "rows.csv", good)
    result = run_cli(
        "predict", "rows.csv", "--model-dir", "models/strict", "-o", "q.csv", cwd=project
    )
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(project / "q.csv")
    assert out["row"].tolist() == [2, 3, 4]  # as the file numbers them: the header is row 1


def test_a_corrupt_store_is_named_with_the_way_out(project: Path) -> None:
    store = project / "mlflow.db"
    store.write_bytes(b"not a database, but a file cut short\n" * 200)
    before = store.read_bytes()
    result = run_cli(
        "train", "debug=fast", cwd=project, env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    )
    assert_clean_failure(result, f"the MLflow store {store} is not a readable SQLite", project)
    assert f"mv {store} {store}.broken" in result.stderr
    assert store.read_bytes() == before


@pytest.mark.slow
def test_a_read_only_output_folder_is_one_line(
    project: Path, survey_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root writes anywhere but on a read-only filesystem
        folder = Path("/sys/mbegu-predictions")
        if not Path("/sys").is_dir():
            pytest.skip("no read-only folder to test with")
    output = folder / "p.csv"
    result = run_cli(
        "predict", "data/survey.csv", "--model-dir", "models/m", "-o", str(output), cwd=project
    )
    assert_clean_failure(result, f"cannot write {output}", project)
    assert "make the folder writable" in result.stderr


def test_a_date_column_is_named_in_a_warning(project: Path) -> None:
    raw = survey_csv(project / "data" / "survey.csv", rows=60)
    frame = pd.read_csv(raw, dtype=str, keep_default_na=False)
    frame.insert(1, "signup", [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(60)])
    frame.to_csv(raw, index=False)
    use_data(project, "dated", {"path": "data/survey.csv", "target": "answer", "drop": ["id"]})
    result = run_cli("prepare", "--params", "params.yaml", cwd=project)
    assert result.returncode == 0, result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith("mbegu: warning:")]
    assert "signup (e.g. '2024-01-01') look like dates" in line, line
    assert "region" not in line and "data.drop" in line


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "data add"])
def test_a_continuous_target_is_refused(project: Path, command: str) -> None:
    survey_csv(project / "data" / "survey.csv", rows=100)
    if command == "train":
        args = ["train", "data=table", "data.path=data/survey.csv", "data.target=income"]
    else:
        args = ["data", "add", "data/survey.csv", "--target", "income"]
    result = run_cli(*args, cwd=project)
    assert_clean_failure(result, "target income holds 100 different numbers in 100 rows", project)
    assert "mbegu classifies, and this target looks continuous" in result.stderr
    assert not (project / "conf" / "data" / "survey.yaml").exists()
