"""model.onnx beside model.pt: the same answers from ONNX Runtime as from torch, for a table
and a text model, through `mbegu predict --engine onnx` and the MLflow model, in a process that
never imports torch or Lightning; the same bytes on every export; bad input named in one line."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from .helpers.cli import call_main
from .helpers.models import untrained_model
from .helpers.own_data import survey_csv, tweets
from .helpers.project import FAST, REPO
from .test_own_data import text_overrides
from .test_predictions import SURVEY

TOLERANCE = 1e-5


def _shaken(model_dir: Path, seed: int = 0) -> Path:
    """The model's weights drawn at random and saved again (model.onnx re-exported).

    A fresh LinearBag's weights are all zero; random ones make every path through the graph
    count, so the engines must agree on real numbers, not on zeros.
    """
    import torch

    from mbegu.models.saved import load_model, save_model

    saved = load_model(model_dir)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in saved.net.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    save_model(model_dir, saved.net, saved.config, saved.encoder)
    return model_dir


@pytest.fixture
def table_model(project: Path) -> Path:
    survey_csv(project / "data" / "survey.csv", rows=60)
    return _shaken(untrained_model(project, SURVEY, "models/table"))


@pytest.fixture
def text_model(project: Path) -> Path:
    tweets(project / "data" / "tweets")
    overrides = [*text_overrides(), "model.net.linear=true"]  # BagOfNgrams and LinearBag
    return _shaken(untrained_model(project, overrides, "models/text"))


def _both_engines(project: Path, model_dir: Path, rows: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`mbegu predict` on the rows with each engine: the two output files."""
    frames = []
    for engine in ("torch", "onnx"):
        out = f"{engine}.csv"
        args = ("predict", rows, "--model-dir", str(model_dir), "--engine", engine, "-o", out)
        result = call_main(*args, cwd=project)
        assert result.returncode == 0, result.stderr
        frames.append(pd.read_csv(project / out, keep_default_na=False))
    return frames[0], frames[1]


def _agree(torch_out: pd.DataFrame, onnx_out: pd.DataFrame) -> None:
    assert list(onnx_out.columns) == list(torch_out.columns)
    probs = [c for c in torch_out.columns if c.startswith("prob_")]
    others = [c for c in torch_out.columns if c not in probs]
    pd.testing.assert_frame_equal(onnx_out[others], torch_out[others])
    gap = np.abs(onnx_out[probs].to_numpy() - torch_out[probs].to_numpy()).max()
    assert gap < TOLERANCE


def test_a_table_model_answers_alike_on_both_engines(project: Path, table_model: Path) -> None:
    from mbegu.data.files import read_frame
    from mbegu.models.onnx_model import load_onnx
    from mbegu.models.saved import load_model

    rows = read_frame(project / "data" / "survey.csv")
    expected = load_model(table_model).probabilities(rows)
    got = load_onnx(table_model).probabilities(rows)
    assert got.shape == expected.shape == (60, 2)
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.abs(expected - 0.5).max() > 0.05  # real answers, not a coin toss on both sides
    one = load_onnx(table_model).probabilities(rows.iloc[:1])  # the dynamic batch axis
    assert np.abs(one - expected[:1]).max() < TOLERANCE
    _agree(*_both_engines(project, table_model, "data/survey.csv"))


def test_a_cnn_answers_alike_on_both_engines(project: Path) -> None:
    from mbegu.data.files import read_frame
    from mbegu.models.onnx_model import load_onnx
    from mbegu.models.saved import load_model

    model_dir = _shaken(untrained_model(project, ["data=digits", "model=cnn"], "models/cnn"))
    rows = read_frame(project / "data" / "digits.csv").head(200)
    expected = load_model(model_dir).probabilities(rows)  # batch norm's running statistics
    got = load_onnx(model_dir).probabilities(rows)
    assert got.shape == (200, 10)
    assert np.abs(got - expected).max() < TOLERANCE


def test_a_text_model_answers_alike_on_both_engines(project: Path, text_model: Path) -> None:
    from mbegu.models.onnx_model import load_onnx
    from mbegu.models.saved import load_model

    texts = pd.DataFrame({"tweet": ["qqqq", "ẹ kú àárọ̀ good morning", "bad bad day"]})
    expected = load_model(text_model).probabilities(texts)
    got = load_onnx(text_model).probabilities(texts)  # ragged bags, one of them empty
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.abs(got[1] - got[2]).max() > 1e-3  # the texts matter, the bias alone does not
    _agree(*_both_engines(project, text_model, "data/tweets/test.tsv"))


def test_the_text_graph_is_a_weighted_sum_and_exports_the_same_bytes(
    project: Path, text_model: Path
) -> None:
    import onnx

    from mbegu.models.saved import load_model, save_model

    graph = onnx.load(str(text_model / "model.onnx"))
    ops = {node.op_type for node in graph.graph.node}
    assert {"Gather", "Mul", "ReduceSum", "Softmax"} <= ops
    assert not ops & {"Loop", "Scan", "If"}  # no bag operator unrolled over offsets
    axes = [
        [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in graph.graph.input
    ]
    assert axes == [["rows", "length"], ["rows", "length"]]

    first = hashlib.md5((text_model / "model.onnx").read_bytes()).hexdigest()
    saved = load_model(text_model)
    save_model(text_model, saved.net, saved.config, saved.encoder)
    assert hashlib.md5((text_model / "model.onnx").read_bytes()).hexdigest() == first


@pytest.mark.slow
def test_a_logged_model_carries_model_onnx_and_predicts_by_run_id(
    project: Path, client: Any, experiment: str, no_running_runs: None
) -> None:
    from mbegu.config.compose import compose
    from mbegu.training.train import train

    result = train(compose([*FAST, f"tracking.experiment_name={experiment}"]), outputs="run")
    model_dir = project / "checkpoints" / result.run_id / "model"
    assert (model_dir / "model.onnx").is_file()
    [logged] = client.search_logged_models([client.get_run(result.run_id).info.experiment_id])
    files = {a.path for a in client.list_logged_model_artifacts(logged.model_id, "data/model")}
    assert "data/model/model.onnx" in files  # travels with the MLflow model
    shutil.copy(REPO / "examples" / "digits_rows.csv", project / "rows.csv")
    frames = []
    for engine in ("torch", "onnx"):
        args = ("predict", "rows.csv", "--run-id", result.run_id, "-o", f"{engine}.csv")
        answered = call_main(*args, "--engine", engine, cwd=project)
        assert answered.returncode == 0, answered.stderr
        frames.append(pd.read_csv(project / f"{engine}.csv"))
    _agree(*frames)


def test_a_text_network_without_padded_is_saved_without_onnx_and_says_so(
    text_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from torch import nn

    from mbegu.models.saved import load_model, save_model

    class Unpadded(nn.Module):  # a user's text network, written without `padded`
        takes = "text"

    saved = load_model(text_model)
    capsys.readouterr()
    save_model(text_model, Unpadded(), saved.config, saved.encoder)
    assert not (text_model / "model.onnx").exists()
    assert capsys.readouterr().err == (
        "mbegu: warning: no model.onnx for this model (Unpadded reads text but has no `padded` "
        "method): serve it with --engine torch\n"
    )


# Run in a fresh interpreter: the CLI's ONNX path, then the MLflow model loaded with
# engine=onnx; neither may import torch or Lightning on the way.
TORCH_FREE = """
import sys
import mlflow.pyfunc
import pandas as pd
from mbegu.cli.main import main

model_dir, rows, mlflow_dir = sys.argv[1:4]
assert main(["predict", rows, "--model-dir", model_dir, "--engine", "onnx", "-o", "free.csv"]) == 0
model = mlflow.pyfunc.load_model(mlflow_dir, model_config={"engine": "onnx"})
answers = model.predict(pd.read_csv(rows, sep=None, engine="python"))
answers.to_csv("pyfunc.csv", index=False)
print(sorted(m for m in ("torch", "lightning", "pytorch_lightning") if m in sys.modules))
"""

# A serving-only install: torch and Lightning cannot be imported at all.
NO_TORCH = """
import sys
sys.modules["torch"] = sys.modules["lightning"] = None  # import fails, find_spec says None
import mlflow.pyfunc
import pandas as pd

mlflow_dir, rows = sys.argv[1:3]
model = mlflow.pyfunc.load_model(mlflow_dir)  # the logged default, engine=torch
model.predict(pd.read_csv(rows, sep=None, engine="python")).to_csv("fallback.csv", index=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["table", "text"])
def test_serving_with_onnx_imports_no_torch(
    project: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    import mlflow.pyfunc

    model_dir: Path = request.getfixturevalue(f"{kind}_model")
    rows = "data/survey.csv" if kind == "table" else "data/tweets/test.tsv"
    mlflow_dir = project / "mlflow-model"
    mlflow.pyfunc.save_model(
        str(mlflow_dir),
        loader_module="mbegu.models.mlflow_model",
        data_path=str(model_dir),
        model_config={"engine": "torch"},
    )
    script = [sys.executable, "-c", TORCH_FREE, str(model_dir), rows, str(mlflow_dir)]
    result = subprocess.run(script, cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"  # no torch, no Lightning

    torch_model = mlflow.pyfunc.load_model(str(mlflow_dir))  # the logged default: torch
    frame = pd.read_csv(project / rows, sep=None, engine="python")
    expected = torch_model.predict(frame)
    served = pd.read_csv(project / "pyfunc.csv")
    assert list(served.columns) == list(expected.columns)
    assert served["prediction"].astype(str).tolist() == expected["prediction"].tolist()
    probs = [c for c in expected.columns if c.startswith("prob_")]
    assert np.abs(served[probs].to_numpy() - expected[probs].to_numpy()).max() < TOLERANCE
    cli = pd.read_csv(project / "free.csv")
    assert np.abs(cli[probs].to_numpy() - expected[probs].to_numpy()).max() < 1e-5

    # Where torch is not installed, the logged default (torch) serves model.onnx instead, as
    # `mlflow models serve` in a serving-only install loads it.
    script = [sys.executable, "-c", NO_TORCH, str(mlflow_dir), rows]
    result = subprocess.run(script, cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "torch is not installed: serving model.onnx" in result.stderr
    fallback = pd.read_csv(project / "fallback.csv")
    assert np.abs(fallback[probs].to_numpy() - expected[probs].to_numpy()).max() < TOLERANCE


def test_a_folder_without_model_onnx_is_one_line_with_the_fix(project: Path) -> None:
    survey_csv(project / "data" / "survey.csv", rows=20)
    model_dir = untrained_model(project, SURVEY, "models/old")
    (model_dir / "model.onnx").unlink()  # as an mbegu before ONNX export saved it
    args = ("predict", "data/survey.csv", "--model-dir", "models/old", "-o", "p.csv")
    refused = call_main(*args, "--engine", "onnx", cwd=project)
    assert refused.returncode == 2
    assert refused.stderr == (
        "mbegu: error: no model.onnx in models/old: its network was saved without one (an older "
        "mbegu, or a network ONNX cannot export); retrain it with this mbegu (`dvc repro train`), "
        "or use --engine torch\n"
    )
    assert not (project / "p.csv").exists()
    assert call_main(*args, cwd=project).returncode == 0  # torch still serves it


def test_an_unknown_engine_is_refused_by_name(project: Path) -> None:
    from mbegu.errors import MbeguError
    from mbegu.models.mlflow_model import _load_pyfunc

    survey_csv(project / "data" / "survey.csv", rows=20)
    model_dir = untrained_model(project, SURVEY, "models/m")
    with pytest.raises(MbeguError, match=r"engine 'tensorrt' is not one of torch, onnx"):
        _load_pyfunc(str(model_dir), {"engine": "tensorrt"})
    usage = call_main("predict", "x.csv", "--engine", "tensorrt", cwd=project)
    assert usage.returncode == 2 and "invalid choice: 'tensorrt'" in usage.stderr


def test_a_serving_install_without_torch_is_told_to_use_onnx(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    survey_csv(project / "data" / "survey.csv", rows=20)
    untrained_model(project, SURVEY, "models/m")
    monkeypatch.setitem(sys.modules, "torch", None)  # what find_spec sees where torch is absent
    args = ("predict", "data/survey.csv", "--model-dir", "models/m", "-o", "p.csv")
    refused = call_main(*args, cwd=project)
    assert refused.returncode == 2
    assert refused.stderr == (
        "mbegu: error: torch is not installed here: serve model.onnx with --engine onnx\n"
    )
    served = call_main(*args, "--engine", "onnx", cwd=project)
    assert served.returncode == 0, served.stderr
