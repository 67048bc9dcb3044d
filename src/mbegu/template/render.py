"""Make a copy of mbegu into the user's project: the few lines that name it, from copier's answers.

copier copies mbegu's tree as it is (no file of it is a Jinja template, so mbegu itself stays a
project that runs) and then runs this, with copier's own Python and only the standard library,
in the new project. The same rewrite runs again on each side of `copier update` (the old
release, the new one, the project), so the template's later changes to these files still merge
line by line with the project's own. What is the project's alone from the first day (README,
LICENSE, CHANGELOG, the starter data) is written on the first copy only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

DATA_CHOICE = {"digits": "digits", "table": "example", "text": "example"}
MODEL_CHOICE = {"digits": "mlp", "table": "mlp", "text": "text"}
STARTED = """\
Started from the mbegu template: `.copier-answers.yml` records its release, `mbegu doctor`
tells whether a newer one is out, and [Update from the template](docs/update.md) how to take it.
"""


def _sub(path: Path, pattern: str, replacement: str) -> None:
    """Replace the template's line if it is still there; a line the user changed is theirs."""
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(pattern, replacement, text, count=1, flags=re.M), encoding="utf-8")


def rewrite_conf(root: Path, name: str, kind: str, tracking_uri: str) -> None:
    """Write the project's name and data into conf/.

    MLflow's experiment and registered model are `<project.name>-<data.name>`, so they follow.
    """
    config = root / "conf" / "config.yaml"
    _sub(config, r"^(project:\n  name: )mbegu\b", rf"\g<1>{_yaml(name)}")
    _sub(config, r"^(  - data: )digits\b", rf"\g<1>{DATA_CHOICE[kind]}")
    _sub(config, r"^(  - model: )mlp\b", rf"\g<1>{MODEL_CHOICE[kind]}")
    if tracking_uri:
        tracking = root / "conf" / "tracking" / "mlflow.yaml"
        _sub(tracking, r"^(tracking_uri: )null\b", rf"\g<1>{_yaml(tracking_uri)}")
    if kind != "digits":
        from mbegu.template.starter import CONFIGS

        (root / "conf" / "data" / "example.yaml").write_text(CONFIGS[kind], encoding="utf-8")


def rewrite_python(root: Path, version: str) -> None:
    """The interpreter `make` builds .venv with: the chosen one where installed, else python3."""
    _sub(
        root / "Makefile",
        r"^PYTHON \?= python3$",
        f"PYTHON ?= $(or $(shell command -v python{version} 2>/dev/null),python3)",
    )
    (root / ".python-version").write_text(f"{version}\n", encoding="utf-8")


def write_front_page(root: Path, name: str, kind: str, licence: str) -> None:
    """README title and names, a CHANGELOG of the project's own, the licence chosen."""
    data = DATA_CHOICE[kind]
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    text = re.sub(r"\A# mbegu\n", f"# {name}\n\n{STARTED}\n", text)
    text = text.replace("mbegu-digits", f"{name}-{data}")
    text = text.replace("best_mbegu_digits", f"best_{name}_{data}".replace("-", "_"))
    readme.write_text(text, encoding="utf-8")
    (root / "CHANGELOG.md").write_text(
        f"# Changelog\n\nAll notable changes to {name}; the format follows "
        "[Keep a Changelog](https://keepachangelog.com/).\n\n## [Unreleased]\n\n"
        f"### Added\n- The project, started from the mbegu template with {kind} data.\n",
        encoding="utf-8",
    )
    year = datetime.date.today().year
    if licence == "MIT":
        _sub(root / "LICENSE", r"^Copyright \(c\) .*$", f"Copyright (c) {year} {name} contributors")
    else:
        (root / "LICENSE").write_text(
            f"Copyright (c) {year} {name} contributors. All rights reserved.\n", encoding="utf-8"
        )
        _sub(root / "pyproject.toml", r'^license = "MIT"$', 'license = "LicenseRef-Proprietary"')


def _yaml(value: str) -> str:
    """A YAML scalar for any string: JSON's quoting is valid YAML, plain words stay plain."""
    plain = re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-/:]*", value) and value not in (
        "null",
        "true",
        "false",
    )
    return value if plain else json.dumps(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Copier's task: rewrite a fresh copy for the answers given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", required=True)
    parser.add_argument("--data", choices=sorted(DATA_CHOICE), required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--tracking-uri", default="")
    parser.add_argument("--license", dest="licence", choices=["MIT", "proprietary"], default="MIT")
    parser.add_argument("--operation", choices=["copy", "update"], default="copy")
    args = parser.parse_args(argv)
    root = Path.cwd()
    rewrite_conf(root, args.name, args.data, args.tracking_uri)
    rewrite_python(root, args.python)
    if args.operation == "copy":
        write_front_page(root, args.name, args.data, args.licence)
        if args.data != "digits":
            from mbegu.template.starter import write_starter_data

            write_starter_data(root, args.data)
    return 0


if __name__ == "__main__":
    # copier runs this file with its own Python, where mbegu is not installed: its src/ is.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
