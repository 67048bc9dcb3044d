"""`mbegu repro-check`'s verdicts, on a real git repository: the same bytes, other bytes from
the same inputs (within the tolerance or not), and new results from changed inputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from mbegu.evaluation.committed import TOLERANCE, compare, report


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _write(root: Path, acc: float, data_md5: str = "aaa", model_md5: str = "m1") -> None:
    lock = {
        "schema": "2.0",
        "stages": {
            "train": {
                "deps": [{"path": "data/x.csv", "md5": data_md5}],
                "params": {"params.yaml": {"seed": 1}},
                "outs": [{"path": "artifacts/model", "md5": model_md5}],
            },
            "evaluate": {"deps": [{"path": "artifacts/model", "md5": model_md5}]},
        },
    }
    (root / "dvc.lock").write_text(yaml.safe_dump(lock))
    (root / "reports").mkdir(exist_ok=True)
    metrics = {"test": {"acc": acc, "loss": 0.1, "per_class": {"a": 1.0}}}
    (root / "reports" / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    _write(tmp_path, acc=0.96)
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "outputs")
    return tmp_path


def test_the_same_bytes(repo: Path) -> None:
    lines, fine = report(compare(repo), "AVX2 kernels, 2 threads")
    assert fine and lines == ["outputs: the same bytes as committed (dvc.lock, reports/)"]


def test_other_bytes_within_the_tolerance_name_the_cpu(repo: Path) -> None:
    _write(repo, acc=0.96 + TOLERANCE / 2, model_md5="m2")  # another CPU: another model md5
    found = compare(repo)
    assert found is not None and found.changed_inputs == []  # the model is no new input
    lines, fine = report(found, "AVX512 kernels, 2 threads")
    assert fine
    assert (
        lines[0]
        == "outputs: same inputs, other bytes than committed: dvc.lock, reports/metrics.json"
    )
    assert "acc 0.965 (committed 0.96)" in lines[1]
    assert "AVX512 kernels, 2 threads here" in lines[2]


def test_other_bytes_beyond_the_tolerance_fail(repo: Path) -> None:
    _write(repo, acc=0.96 - 3 * TOLERANCE, model_md5="m2")
    lines, fine = report(compare(repo), "AVX2 kernels, 2 threads")
    assert not fine
    assert "more than the 0.01 that another CPU explains" in lines[-1]


def test_changed_inputs_are_new_results(repo: Path) -> None:
    _write(repo, acc=0.5, data_md5="bbb", model_md5="m3")  # other data: any metrics go
    lines, fine = report(compare(repo), "AVX2 kernels, 2 threads")
    assert fine
    assert lines == [
        "outputs: new results, as the inputs of train changed (dvc.lock, reports/metrics.json)"
    ]


def test_outside_git_there_is_nothing_to_compare(tmp_path: Path) -> None:
    _write(tmp_path, acc=0.9)
    assert report(compare(tmp_path), "") == (
        ["outputs: not a git checkout, nothing to compare with"],
        True,
    )
