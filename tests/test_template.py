"""mbegu as a copier template, offline: a project copied from a tagged release runs its own
pipeline and tests under its own names; after its own commits (an edited conf/ and src/, its
own data and data config, an experiment, an MLflow store) `copier update` to the next release
brings the template's changes, marks the one that clashes, and leaves the user's things alone.

The template is a git repository made from the committed tree (as a release is), tagged v1
and then v2; the copy runs with this environment's tools and its own src/ (no venv of its own).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from .helpers.project import IS_TEMPLATE, REPO

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BIN = Path(sys.executable).parent
NAME = "field-survey"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "mbegu test",
    "GIT_AUTHOR_EMAIL": "test@mbegu.invalid",
    "GIT_COMMITTER_NAME": "mbegu test",
    "GIT_COMMITTER_EMAIL": "test@mbegu.invalid",
}


def sh(*cmd: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_TRACKING_URI", "DVC_", "MBEGU_", "GIT_", "COV_CORE"))
    }
    env.update(GIT_ENV, DVC_NO_ANALYTICS="1", PATH=f"{BIN}{os.pathsep}{env['PATH']}")
    if (cwd / "src" / "mbegu").is_dir():
        env["PYTHONPATH"] = str(cwd / "src")  # the copy's own code, as its own venv would run
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}")
    return done


def release(template: Path, tag: str) -> None:
    sh("git", "add", "-A", cwd=template)
    sh("git", "commit", "-q", "-m", f"release {tag}", cwd=template)
    sh("git", "tag", tag, cwd=template)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.skipif(
    not IS_TEMPLATE, reason="tests mbegu as a template; this is a project made from it"
)
def test_copy_run_and_update_from_a_newer_release(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("copier needs git")
    template = tmp_path / "mbegu"
    template.mkdir()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=REPO, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(template, filter="data")
    sh("git", "init", "-q", cwd=template)
    release(template, "v1")

    copier = [BIN / "copier"]
    project = tmp_path / "project"
    answers = ["-d", f"project_name={NAME}", "-d", "data_kind=table"]
    sh(*copier, "copy", "-q", "--trust", "--defaults", *answers, template, project, cwd=tmp_path)

    # Every source, test and doc travels; the project's names and starter data are written;
    # mbegu's results and history stay behind.
    listed = sh("git", "ls-files", "src", "tests", "conf", "docs", cwd=template).stdout.split()
    assert [path for path in listed if not (project / path).is_file()] == []
    assert (project / "README.md").read_text().startswith(f"# {NAME}\n")
    config = yaml.safe_load((project / "conf" / "config.yaml").read_text())
    assert config["project"]["name"] == NAME
    assert (project / "data" / "example.csv").is_file()
    for left in ("dvc.lock", "params.yaml", "data.dvc", "reports/metrics.json", ".dvc/storage"):
        assert not (project / left).exists(), left
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == "v1" and recorded["_src_path"] == str(template)

    # The user's first day: `make run`'s steps (a shorter training, their own edit), commit.
    trainer = project / "conf" / "trainer" / "default.yaml"
    edit(trainer, "max_epochs: 30", "max_epochs: 3")
    edit(project / "src" / "mbegu" / "errors.py", '"""The one', '"""Field survey: the one')
    sh("mbegu", "params", cwd=project)
    sh("dvc", "add", "-q", "data", cwd=project)
    sh("dvc", "push", "-q", "data.dvc", cwd=project)
    sh("dvc", "repro", cwd=project)
    with sqlite3.connect(project / "mlflow.db") as db:
        experiments = {row[0] for row in db.execute("SELECT name FROM experiments")}
        models = {row[0] for row in db.execute("SELECT name FROM registered_models")}
    assert f"{NAME}-example" in experiments and f"{NAME}-example" in models
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-q", "-m", "Start from mbegu", cwd=project)
    doctor = sh("mbegu", "doctor", cwd=project)
    assert "template: mbegu v1" in doctor.stdout and "up to date" in doctor.stdout, doctor.stdout

    # Their own data, data config and experiment, and a run in the store.
    mine = project / "conf" / "data" / "mine.yaml"
    mine.write_text("defaults:\n  - example\n  - _self_\nname: mine\npath: data/mine.csv\n")
    shutil.copy(project / "data" / "example.csv", project / "data" / "mine.csv")
    sh("dvc", "add", "-q", "data", cwd=project)
    (project / "conf" / "experiment" / "short.yaml").write_text(
        "# @package _global_\ntrainer:\n  max_epochs: 2\n"
    )
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-q", "-m", "Our own data", cwd=project)
    kept = [
        mine,
        project / "data" / "mine.csv",
        project / "data.dvc",
        project / "conf" / "experiment" / "short.yaml",
        project / "mlflow.db",
        project / "params.yaml",
    ]
    before = {path: digest(path) for path in kept}

    # The next release: a line the user also changed, one they did not, a new docs line.
    edit(template / "conf" / "trainer" / "default.yaml", "max_epochs: 30", "max_epochs: 40")
    edit(template / "src" / "mbegu" / "errors.py", "def warn(", "def warn(  ")
    with (template / "docs" / "troubleshooting.md").open("a") as docs:
        docs.write("\nA line of the v2 release.\n")
    release(template, "v2")
    doctor = sh("mbegu", "doctor", cwd=project, check=False)  # the new data: not run yet
    assert "v2 is out" in doctor.stdout, doctor.stdout
    assert "changed since dvc.lock: prepare" in doctor.stdout and doctor.returncode == 1

    theirs = trainer.read_text()
    update = sh(*copier, "update", "-q", "--trust", "--defaults", "--vcs-ref", "v2", cwd=project)
    assert "A line of the v2 release." in (project / "docs" / "troubleshooting.md").read_text()
    errors = (project / "src" / "mbegu" / "errors.py").read_text()
    assert "Field survey: the one" in errors and "def warn(  " in errors  # merged
    clash = trainer.read_text()
    assert "<<<<<<<" in clash and "max_epochs: 3" in clash and "max_epochs: 40" in clash, (
        clash,
        update.stderr,
    )
    assert {path: digest(path) for path in kept} == before
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v2"

    # The user settles the clash their way; their config's tests pass; `dvc repro` is due.
    trainer.write_text(theirs)
    sh("git", "add", "-A", cwd=project)
    sh("git", "commit", "-q", "-m", "mbegu v2", cwd=project)
    doctor = sh("mbegu", "doctor", cwd=project, check=False)
    assert "up to date (newest tag v2)" in doctor.stdout, doctor.stdout
    assert "params.yaml is conf/ composed" in doctor.stdout, doctor.stdout
    assert "changed since dvc.lock" in doctor.stdout and doctor.returncode == 1, doctor.stdout
    tests = sh(
        sys.executable,
        *("-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "--no-cov"),
        *("tests/test_config.py", "-k", "params or groups or help"),
        cwd=project,
    )
    assert " passed" in tests.stdout
