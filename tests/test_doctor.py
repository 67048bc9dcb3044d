"""`mbegu doctor` and the copier task's rewrite, without copier: reading `.copier-answers.yml`,
telling releases apart, one line outside a project, and a rewrite that a second run leaves as
it is (copier runs it on each side of an update)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mbegu.errors import MbeguError
from mbegu.template.releases import Origin, is_newer, local_source, read_origin, release_of
from mbegu.template.render import main as render

from .helpers.project import IS_TEMPLATE, REPO, pristine


def test_doctor_outside_a_project_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mbegu", "doctor"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("mbegu: error: no mbegu project") and done.stderr.count("\n") == 1


def test_releases_are_told_apart(tmp_path: Path) -> None:
    assert release_of("v1.2-3-gabc1234") == "v1.2" and release_of("v2") == "v2"
    assert is_newer("v0.10.0", "v0.9.1-4-gdeadbee") and not is_newer("v1", "v1")
    assert local_source(Origin("v1", "https://example.org/mbegu.git"), tmp_path) is None
    assert local_source(Origin("v1", "gh:owner/mbegu"), tmp_path) is None
    assert local_source(Origin("v1", str(tmp_path)), tmp_path) == tmp_path


def test_answers_are_read_or_refused_in_one_line(tmp_path: Path) -> None:
    assert read_origin(tmp_path) is None
    (tmp_path / ".copier-answers.yml").write_text("_commit: v1\n_src_path: /srv/mbegu\n")
    assert read_origin(tmp_path) == Origin("v1", "/srv/mbegu")
    (tmp_path / ".copier-answers.yml").write_text("_commit: [v1\n")
    with pytest.raises(MbeguError, match="not valid YAML"):
        read_origin(tmp_path)


@pytest.mark.skipif(
    not IS_TEMPLATE, reason="tests mbegu as a template; this is a project made from it"
)
def test_the_rewrite_names_the_project_and_a_second_run_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(pristine() / "conf", tmp_path / "conf")
    for name in ("Makefile", "README.md", "LICENSE", "CHANGELOG.md", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    answers = [
        "--name=field-survey",
        "--data=text",
        "--python=3.12",
        "--tracking-uri=http://h:5000",
    ]
    assert render([*answers, "--operation=copy"]) == 0
    config = (tmp_path / "conf" / "config.yaml").read_text()
    assert "  name: field-survey " in config and "- data: example" in config
    assert "- model: text" in config
    assert "tracking_uri: http://h:5000" in (tmp_path / "conf/tracking/mlflow.yaml").read_text()
    assert (tmp_path / "README.md").read_text().startswith("# field-survey\n")
    assert (tmp_path / "data" / "example.tsv").is_file()
    assert "python3.12" in (tmp_path / "Makefile").read_text()
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert render([*answers, "--operation=update"]) == 0
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files
