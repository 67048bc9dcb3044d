"""A study on PostgreSQL shared by two independent `mbegu sweep` commands, as two machines
would share it. Needs a server: .ci/run starts one on 127.0.0.1 and sets the URL."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import optuna
import pytest

from mbegu.sweeps import storage as trials

from .conftest import start_cli
from .test_sweeps import children, parent_of, sweep_args

URL = os.environ.get("MBEGU_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.skipif(not URL, reason="MBEGU_TEST_POSTGRES_URL unset (.ci/run starts a server)"),
    pytest.mark.usefixtures("no_running_runs"),
]


SECRET = "s3cretPW-9f2"


def with_password(url: str) -> str:
    """The server trusts loopback, so any password works: one that must never be stored."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{SECRET}@{host}"


def test_two_commands_share_a_postgres_study(project, client, experiment, tracking_uri) -> None:
    study_name = f"pg-{uuid.uuid4().hex[:8]}"
    args = sweep_args(experiment, study_name, 4, f"sweep.storage={with_password(URL)}")
    first = start_cli("sweep", *args, cwd=project)
    head = []
    for line in first.stdout:  # the second "machine" joins once the study is running
        head.append(line)
        if line.startswith("trial 0:"):
            break
    second = start_cli("sweep", *args, cwd=project)
    outputs = [
        "".join(head) + first.communicate(timeout=600)[0],
        second.communicate(timeout=600)[0],
    ]
    assert [first.returncode, second.returncode] == [0, 0], "\n".join(o[-2000:] for o in outputs)

    study = optuna.load_study(study_name=study_name, storage=URL)
    counted = [t for t in study.trials if trials.counted(t)]
    assert len(counted) == 4, [(t.number, t.state.name) for t in study.trials]
    assert len({t.number for t in study.trials}) == len(study.trials)
    assert len({t.user_attrs[trials.PID] for t in counted}) == 2, "both commands ran trials"
    parent = parent_of(client, experiment)
    nested = children(client, experiment, parent.info.run_id)
    assert sorted(int(r.data.tags["mbegu.trial.number"]) for r in nested) == sorted(
        t.number for t in counted
    )
    # The password is in neither output, nor the store, nor any artifact or project file.
    assert SECRET not in "".join(outputs)
    assert "mbegu:***@" in "".join(outputs)
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    for path in [db, *db.parent.rglob("*"), *project.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    command = nested[0].data.tags["mbegu.command"]
    assert "sweep.storage=postgresql://mbegu:***@" in command
