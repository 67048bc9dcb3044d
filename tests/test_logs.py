"""What libraries may print (mbegu.logs): MLflow's INFO lines stay hidden unless `mbegu -v` or
MBEGU_LOG_LEVEL=INFO asks for them. MLflow reads its level once, at import, so each case is a
`mbegu` process of its own."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .helpers.cli import run_cli

# What MLflow logs (INFO, mlflow.store.db.utils) when it creates a store's tables.
INFO_LINE = "INFO mlflow.store.db.utils: Creating initial MLflow database tables"
# How a command may ask for the libraries' INFO lines; an empty key asks for nothing.
ASKS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "": ((), {}),
    "-v": (("-v",), {}),
    "MBEGU_LOG_LEVEL=INFO": ((), {"MBEGU_LOG_LEVEL": "INFO"}),
}


@pytest.mark.slow  # three processes that import MLflow, at once: 6 to 10 s
def test_library_info_lines_show_only_when_asked(project: Path) -> None:
    """`mbegu summary` on a store MLflow creates in memory (so every run logs the creation,
    without the seconds a file's migrations take): the INFO line only with -v or the
    environment variable, and the command's own lines the same in every case."""
    (project / "reports").mkdir()
    (project / "reports" / "metrics.json").write_text(json.dumps({"test": {"acc": 0.9}}))

    def summary(ask: str) -> tuple[str, str]:
        args, env = ASKS[ask]
        done = run_cli(
            *args,
            "summary",
            cwd=project,
            env={"MLFLOW_TRACKING_URI": "sqlite:///:memory:", **env},
            unset=("MBEGU_LOG_LEVEL", "MLFLOW_LOGGING_LEVEL"),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    with ThreadPoolExecutor(len(ASKS)) as pool:
        said = dict(zip(ASKS, pool.map(summary, ASKS), strict=True))
    quiet_out, quiet_err = said[""]
    assert INFO_LINE not in quiet_out + quiet_err
    assert quiet_out.startswith("test: acc 0.9000\n")
    for ask in ("-v", "MBEGU_LOG_LEVEL=INFO"):
        out, err = said[ask]
        assert INFO_LINE in err, f"{ask}: {err}"
        assert out == quiet_out, ask
