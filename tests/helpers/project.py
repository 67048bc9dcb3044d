"""The project as committed: the suite reads it, never the working tree's edits, so `make
test` passes after `dvc exp run`, an edited conf/ or a finished sweep. Each folder is made
on first use and removed when the process ends."""

from __future__ import annotations

import atexit
import functools
import io
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAST = ["debug=fast", "data.batch_size=128"]  # 3 epochs, 8 steps each: a run in seconds
PROJECT_FILES = ("conf", "params.yaml", "dvc.yaml", "data.dvc")
# The example the tests train on, whatever data and model the user's conf/config.yaml picks
# (`mbegu data add` switches it): mbegu's own digits and MLP, params.yaml composed to match.
EXAMPLE_CHOICES = {"data": "digits", "model": "mlp"}


def _scratch(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def pristine() -> Path:
    """conf/, params.yaml, dvc.yaml and data.dvc as committed at HEAD, in a folder of their
    own (the working tree's copy outside a git checkout, e.g. an unpacked release)."""
    folder = _scratch("mbegu-pristine-")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD", *PROJECT_FILES],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if archive.returncode == 0:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
    else:  # a project copied from mbegu may not have committed data.dvc or params.yaml yet
        shutil.copytree(REPO / "conf", folder / "conf")
        for name in PROJECT_FILES[1:]:
            if (REPO / name).is_file():
                shutil.copy(REPO / name, folder / name)
    return folder


@functools.cache
def example() -> Path:
    """pristine() with the example's data and model chosen, params.yaml composed to match."""
    folder = _scratch("mbegu-example-")
    shutil.copytree(pristine(), folder, dirs_exist_ok=True)
    config = folder / "conf" / "config.yaml"
    text = original = config.read_text()
    for group, option in EXAMPLE_CHOICES.items():
        text = re.sub(rf"(?m)^(\s*- {group}: )\S+", rf"\g<1>{option}", text, count=1)
    if text != original or not (folder / "params.yaml").is_file():
        from mbegu.config.params import write_params

        config.write_text(text)
        write_params(folder / "params.yaml", folder)
    return folder


# mbegu's own repository is the copier template; a project made from it is not, and its
# README, conf/ and name are its own.
IS_TEMPLATE = not (REPO / ".copier-answers.yml").is_file()
