"""Predictions that join back to their input: ids and texts passed through, an earlier output
kept unless --force, categories training never saw named, and one naming of the probability
columns for `mbegu predict` and the served MLflow model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mbegu.models.mlflow_model import _load_pyfunc

from .helpers.cli import call_main
from .helpers.models import untrained_model
from .helpers.own_data import survey_csv, tweets
from .test_own_data import text_overrides

SURVEY = ["data=table", "data.path=data/survey.csv", "data.target=answer", "data.drop=[id]"]
HEADER = "id,region,age,income,answer"


@pytest.fixture
def survey_model(project: Path) -> Path:
    survey_csv(project / "data" / "survey.csv", rows=60)
    return untrained_model(project, SURVEY)


def test_ids_pass_through_and_unseen_categories_are_counted(
    project: Path, survey_model: Path
) -> None:
    rows = ["5,Kano,30.5,12.0,yes", "6,Mombasa,41.0,3.5,no", "9,Mombasa,25.0,8.0,no"]
    (project / "rows.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    result = call_main("predict", "rows.csv", "--model-dir", "models/m", "-o", "p.csv", cwd=project)
    assert result.returncode == 0, result.stderr
    assert (
        "mbegu: warning: rows.csv: 2 value(s) in 1 column(s) are categories never seen in "
        "training (region: 'Mombasa' 2)"
    ) in result.stderr
    out = pd.read_csv(project / "p.csv", dtype=str)
    assert list(out.columns) == ["id", "answer", "prediction", "prob_no", "prob_yes"]
    assert out["id"].tolist() == ["5", "6", "9"]  # data.drop's id, to join on

    chosen = call_main(
        "predict", "rows.csv", "--model-dir", "models/m", "-o", "q.csv", "--id", "region",
        "--id", "id", cwd=project,
    )  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    assert list(pd.read_csv(project / "q.csv"))[:3] == ["region", "id", "answer"]


def test_an_earlier_output_is_kept_unless_forced(project: Path, survey_model: Path) -> None:
    (project / "rows.csv").write_text(f"{HEADER}\n5,Kano,30.5,12.0,yes\n")
    (project / "p.csv").write_text("my earlier predictions\n")
    args = ("predict", "rows.csv", "--model-dir", "models/m", "-o", "p.csv")
    refused = call_main(*args, cwd=project)
    assert refused.returncode == 2
    assert refused.stderr == (
        "mbegu: error: p.csv already exists: pass --force to overwrite it, or name another "
        "file with -o\n"
    )
    assert (project / "p.csv").read_text() == "my earlier predictions\n"
    forced = call_main(*args, "--force", cwd=project)
    assert forced.returncode == 0, forced.stderr
    assert (project / "p.csv").read_text().startswith("id,answer,prediction,prob_no")
    absent = call_main(*args, "--force", "--id", "phone", cwd=project)
    assert absent.returncode == 2 and "has no column 'phone' (--id)" in absent.stderr


def test_text_and_served_model_share_the_column_names(project: Path) -> None:
    paths = tweets(project / "data" / "tweets")
    model_dir = untrained_model(project, text_overrides())
    result = call_main(
        "predict", str(paths["test"]), "--model-dir", "models/m", "-o", "p.csv", cwd=project
    )
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(project / "p.csv")
    answer = ["prediction", "prob_negative", "prob_neutral", "prob_positive"]
    assert list(out.columns) == ["row", "tweet", "sentiment", *answer]
    assert out["tweet"].tolist() == pd.read_csv(paths["test"], sep="\t")["tweet"].tolist()
    # What `mlflow models serve` and mlflow.pyfunc.load_model answer: MLflow's loader entry.
    served = _load_pyfunc(str(model_dir)).predict(pd.DataFrame({"tweet": ["na gode ƙwarai"]}))
    assert list(served.columns) == answer


def test_a_large_file_streams_in_chunks_to_csv_or_parquet(
    project: Path, survey_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mbegu.inference.rows

    rows = [f"{i},{'Kano' if i % 3 else 'Lagos'},{20 + i % 40}.5,{i % 9}.0,yes" for i in range(50)]
    rows[20] = ""  # a blank line mid-file is a row; those ending the file are none
    (project / "rows.csv").write_text("\n".join([HEADER, *rows]) + "\n\n\n")
    whole = call_main("predict", "rows.csv", "--model-dir", "models/m", "-o", "w.csv", cwd=project)
    assert whole.returncode == 2 and "row 22 column age is missing" in whole.stderr
    rows[20] = "20,Kano,30.5,1.0,no"
    (project / "rows.csv").write_text("\n".join([HEADER, *rows]) + "\n\n\n")
    args = ("predict", "rows.csv", "--model-dir", "models/m")
    assert call_main(*args, "-o", "whole.csv", cwd=project).returncode == 0
    monkeypatch.setattr(mbegu.inference.rows, "CHUNK_ROWS", 7)  # 8 chunks, the last short
    chunked = call_main(*args, "-o", "chunked.csv", cwd=project)
    assert chunked.returncode == 0, chunked.stderr
    # The same rows, ids and classes; each probability the same to the CSV's 6 digits, give or
    # take the last one: BLAS kernels may sum a batch of 7 rows in another order than one of 50.
    read = {name: pd.read_csv(project / name, dtype=str) for name in ("chunked.csv", "whole.csv")}
    chunks, whole = read["chunked.csv"], read["whole.csv"]
    assert list(chunks.columns) == list(whole.columns) and len(chunks) == len(whole) == 50
    probs = [c for c in whole.columns if c.startswith("prob_")]
    exact = [c for c in whole.columns if c not in probs]
    assert chunks[exact].equals(whole[exact])
    gap = (chunks[probs].astype(float) - whole[probs].astype(float)).abs().to_numpy().max()
    assert gap <= 1.01e-6, gap
    assert call_main(*args, "-o", "chunked.parquet", cwd=project).returncode == 0
    parquet = pd.read_parquet(project / "chunked.parquet")
    csv = pd.read_csv(project / "whole.csv", dtype={"id": str})
    assert list(parquet.columns) == list(csv.columns)
    assert parquet["id"].tolist() == csv["id"].tolist() == [str(i) for i in range(50)]
    assert parquet["prediction"].tolist() == csv["prediction"].tolist()
    assert (parquet["prob_yes"] - csv["prob_yes"]).abs().max() < 1e-6  # CSV keeps 6 digits

    # A bad cell in the fifth chunk: the file's row is named, and nothing is written.
    rows[30] = "30,Kano,thirty,1.0,no"
    (project / "rows.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    bad = call_main(*args, "-o", "bad.parquet", cwd=project)
    assert bad.returncode == 2
    assert "rows.csv row 32 column age is not a number ('thirty')" in bad.stderr
    assert sorted(p.name for p in project.iterdir() if "bad" in p.name) == []


@pytest.mark.parametrize("engine", ["torch", "onnx"])
def test_a_bad_cell_deep_in_a_large_file_is_named_by_its_own_row(
    project: Path, survey_model: Path, engine: str
) -> None:
    # Past the first forward batch (4096 rows): the row is the file's, not the batch's.
    rows = [f"{i},Kano,30.5,12.0,yes" for i in range(6000)]
    rows[5000] = "5000,Kano,thirty,12.0,yes"
    (project / "rows.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    args = ("predict", "rows.csv", "--model-dir", "models/m", "-o", "p.csv", "--engine", engine)
    result = call_main(*args, cwd=project)
    assert result.returncode == 2
    assert "rows.csv row 5002 column age is not a number ('thirty')" in result.stderr
    assert not (project / "p.csv").exists()


@pytest.mark.slow
def test_a_bar_counts_the_rows_on_a_terminal_and_nothing_in_a_log(
    project: Path, survey_model: Path
) -> None:
    import subprocess

    from .helpers.cli import MBEGU, on_a_terminal

    line = "1,Kano,30.5,12.0,yes\n"
    (project / "rows.csv").write_text(HEADER + "\n" + line * (9 * 2**20 // len(line)))
    args = [str(MBEGU), "predict", "rows.csv", "--model-dir", "models/m", "--force"]
    code, _, seen = on_a_terminal([*args, "-o", "a.csv"], project)  # stderr as in a shell
    assert code == 0, seen
    assert b"predicting rows.csv" in seen and b"rows" in seen
    logged = subprocess.run([*args, "-o", "b.csv"], cwd=project, capture_output=True, text=True)
    assert logged.returncode == 0
    assert logged.stderr == ""  # a pipe, as in CI or a log: quiet
