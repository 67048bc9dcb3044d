"""`mbegu doctor`: the project's template release, and whether conf/, params.yaml, dvc.lock agree.

One line each.

Kept out of the pipeline's stages (mbegu.cli.tools calls it on use), so that an edit here
re-runs no stage.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mbegu.errors import MbeguError, first_line


def template_lines(root: Path) -> list[str]:
    """The release the project was copied from, and a newer one where that can be told."""
    import mbegu
    from mbegu.template.releases import (
        ANSWERS,
        is_newer,
        is_template,
        local_source,
        newest_release,
        read_origin,
    )

    origin = read_origin(root)
    if origin is None:
        if is_template(root):
            return [f"template: this is the template itself (mbegu {mbegu.__version__})"]
        return [f"template: no {ANSWERS}: not made by `copier copy`, no release to compare"]
    lines = [f"template: mbegu {origin.commit}, from {origin.src_path}"]
    source = local_source(origin, root)
    if source is None:
        lines.append(f"release:  cannot check offline ({origin.src_path} is not on this machine)")
        return lines
    newest = newest_release(source)
    if newest is None:
        lines.append(f"release:  no release tags at {source}")
    elif is_newer(newest, origin.commit):
        lines.append(f"release:  {newest} is out: copier update --trust --vcs-ref {newest}")
    else:
        lines.append(f"release:  up to date (newest tag {newest})")
    return lines


def params_line(root: Path) -> tuple[str, bool]:
    """params.yaml against conf/ composed (load_params' staleness check)."""
    from mbegu.config.params import load_params

    try:
        load_params(root / "params.yaml")
    except MbeguError as err:
        return f"params:   {err}", False
    return "params:   params.yaml is conf/ composed", True


def dvc_line(root: Path) -> tuple[str, bool]:
    """`dvc status`: the pipeline's stages and data against dvc.lock and the .dvc files."""
    try:
        from dvc.repo import Repo

        with Repo(str(root)) as repo:
            changed = repo.status()
    except Exception as err:  # DVC's own errors: a broken dvc.yaml, no git, ...
        return f"dvc:      dvc status failed: {first_line(err, 80)}", False
    if not changed:
        return "dvc:      dvc status is clean (dvc.lock matches the data, code and params)", True
    names = ", ".join(sorted(changed))
    return f"dvc:      changed since dvc.lock: {names[:60]} (dvc repro, then commit)", False


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print the template release and the agreement checks; exit 1 when something disagrees."""
    from mbegu.project import project_root

    root = project_root()
    lines = template_lines(root)
    agree = True
    for line, ok in (params_line(root), dvc_line(root)):
        lines.append(line)
        agree = agree and ok
    print("\n".join(line if len(line) <= 100 else line[:97] + "..." for line in lines))
    return 0 if agree else 1
