"""Bad input that used to pass in silence: each case is one line through the real `mbegu`
command (or a warning that names it), and the user's data is never altered."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_cli
from .own_data import survey_csv
from .test_cli_errors import assert_clean_failure

pytestmark = pytest.mark.usefixtures("no_running_runs")

SURVEY = ["data=table", "data.path=data/survey.csv", "data.target=answer"]


def untrained_model(project: Path, overrides: list[str], folder: str = "models/m") -> Path:
    """A model folder as training writes it, with its network's first weights: what
    `mbegu predict` reads, in a second instead of a training run."""
    from omegaconf import OmegaConf

    from mbegu.config.compose import compose
    from mbegu.data.sources import build_data
    from mbegu.models.build import sized_model_config
    from mbegu.models.saved import save_model
    from mbegu.security import instantiate

    cfg = compose(overrides, root=project)
    data = build_data(cfg, project)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["model"] = sized_model_config(config["model"], data.sizes, data.kind)
    net = instantiate(config["model"]["net"], where="model")
    model_dir = project / folder
    save_model(model_dir, net, config, data.load())
    return model_dir


@pytest.fixture
def survey_model(project: Path) -> Path:
    """data/survey.csv (gaps imputed, ids dropped) and an mbegu model of it."""
    survey_csv(project / "data" / "survey.csv", rows=60)
    return untrained_model(project, [*SURVEY, "data.drop=[id]", "data.missing=impute"])


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
