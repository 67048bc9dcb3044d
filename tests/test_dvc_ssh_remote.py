"""A DVC remote a team can share: `dvc push` from one clone to an SSH remote, `dvc pull` into
another, byte-identical data and cache. Needs sshd: .ci/run starts one on 127.0.0.1 with
throwaway keys (.ci/sshd.sh) and sets MBEGU_TEST_SSH_URL / MBEGU_TEST_SSH_DIR."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers.own_data import survey_csv
from .helpers.project import REPO

URL = os.environ.get("MBEGU_TEST_SSH_URL")
KEYS = Path(os.environ.get("MBEGU_TEST_SSH_DIR", "/nonexistent"))
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not URL, reason="MBEGU_TEST_SSH_URL unset (.ci/run starts an sshd)"),
]


def run(*cmd: str, cwd: Path, home: Path) -> str:
    """A command as a teammate runs it: their own HOME (known_hosts), the project's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_"))}
    env |= {"HOME": str(home), "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def teammate(tmp_path: Path, name: str) -> Path:
    """A home with the server's host key in known_hosts (what `ssh host` once would add)."""
    home = tmp_path / f"home-{name}"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(KEYS / "known_hosts", home / ".ssh" / "known_hosts")
    return home


def cache(root: Path) -> dict[str, bytes]:
    files = (root / ".dvc" / "cache").rglob("*")
    return {str(p.relative_to(root)): p.read_bytes() for p in files if p.is_file()}


def test_push_from_one_clone_pull_into_another(tmp_path: Path) -> None:
    alice, bob = teammate(tmp_path, "alice"), teammate(tmp_path, "bob")
    first = tmp_path / "first"
    run("git", "clone", "-q", str(REPO), str(first), cwd=tmp_path, home=alice)
    for key, value in (("user.email", "a@mbegu.invalid"), ("user.name", "a")):
        run("git", "config", key, value, cwd=first, home=alice)
    run("dvc", "pull", "-q", "data.dvc", cwd=first, home=alice)  # the bundled example
    survey_csv(first / "data" / "survey.csv")  # the team's own data joins it
    run("dvc", "add", "-q", "data", cwd=first, home=alice)
    run("dvc", "remote", "add", "-d", "team", URL, cwd=first, home=alice)
    # The key stays in .dvc/config.local (git-ignored): never committed.
    key = str(KEYS / "client_key")
    run("dvc", "remote", "modify", "--local", "team", "keyfile", key, cwd=first, home=alice)
    run("dvc", "push", "-q", "data.dvc", cwd=first, home=alice)
    run("git", "add", "data.dvc", ".dvc/config", cwd=first, home=alice)
    run("git", "commit", "-qm", "Our data on the team remote", cwd=first, home=alice)
    assert key not in (first / ".dvc" / "config").read_text()
    assert list((KEYS / "remote").rglob("*.dir")), "nothing reached the SSH remote"

    second = tmp_path / "second"
    run("git", "clone", "-q", str(first), str(second), cwd=tmp_path, home=bob)
    run("dvc", "remote", "modify", "--local", "team", "keyfile", key, cwd=second, home=bob)
    run("dvc", "pull", "-q", "data.dvc", cwd=second, home=bob)
    for name in ("digits.csv", "survey.csv"):
        assert (second / "data" / name).read_bytes() == (first / "data" / name).read_bytes()
    # Bob's cache is exactly what data.dvc names (its manifest and the two files), byte for
    # byte as in Alice's (hers also holds the example's previous manifest).
    mine, theirs = cache(first), cache(second)
    assert len(theirs) == 3 and all(mine[name] == data for name, data in theirs.items())
    assert "in sync" in run("dvc", "status", "-c", "data.dvc", cwd=second, home=bob)
