"""dvc.yaml lists, for each stage, the mbegu modules the stage runs: an edit to one of them
re-runs the stage, an edit elsewhere leaves it alone. The list is kept by hand and checked
here against the modules each stage's command really imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .helpers.project import REPO

# The stage's command, then the file of every mbegu module it imported.
TRACE = """
import atexit, sys
def files():
    mods = [sys.modules[m] for m in sorted(sys.modules) if m.split(".")[0] == "mbegu"]
    print("MODULES", *[m.__file__ for m in mods if getattr(m, "__file__", None)])
atexit.register(files)
from mbegu.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _only_a_docstring(path: Path) -> bool:
    body = ast.parse(path.read_text()).body
    return len(body) <= 1 and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body
    )


@pytest.mark.slow
def test_each_stage_depends_on_every_module_it_runs(project: Path) -> None:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for name in ("prepare", "train", "evaluate"):
        done = subprocess.run(
            [sys.executable, "-c", TRACE, name, "--params", "params.yaml"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        [line] = [li for li in done.stdout.splitlines() if li.startswith("MODULES ")]
        files = [Path(f).resolve().relative_to(REPO.resolve()) for f in line.split()[1:]]
        deps = [Path(d) for d in stages[name]["deps"] if d.startswith("src/")]
        missing = [
            str(f)
            for f in files
            if not any(f == d or d in f.parents for d in deps)
            and not (
                f.name == "__init__.py" and f.parent.name != "mbegu" and _only_a_docstring(REPO / f)
            )
        ]
        assert not missing, f"dvc.yaml's {name} stage runs but does not list {missing}"
