"""What made a run: git commit, dirty tree, data version, DVC experiment, command, versions."""

from __future__ import annotations

import functools
import os
import platform
import shlex
import sys
from pathlib import Path

import yaml

from mbegu.git import git
from mbegu.security import mask_secrets

TAG_COMMIT = "mlflow.source.git.commit"
TAG_DIRTY = "mbegu.git.dirty"
TAG_DATA_MD5 = "mbegu.data.md5"
TAG_INIT_MD5 = "mbegu.init_weights.md5"  # the model.init_weights file a run started from
TAG_DVC_EXP = "mbegu.dvc.exp_name"
TAG_DVC_STAGE = "mbegu.dvc.stage"
TAG_COMMAND = "mbegu.command"
TAG_MODEL = "mbegu.model"


def data_md5(root: Path, dvc_file: str = "data.dvc") -> str | None:
    """The md5 DVC records for the raw data: which version of the data a run saw."""
    try:
        outs = yaml.safe_load((root / dvc_file).read_text())["outs"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    return outs[0].get("md5") if outs else None


def lineage_tags(root: Path, model_target: str | None = None) -> dict[str, str]:
    """Tags that lead from an MLflow run back to exactly what made it."""
    tags = {
        TAG_COMMAND: mask_secrets(shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])),
        "mlflow.source.name": Path(sys.argv[0]).name,
    }
    commit = (git(root, "rev-parse", "HEAD", timeout=10) or "").strip()
    if commit:
        tags[TAG_COMMIT] = commit
        status = git(root, "status", "--porcelain", "--untracked-files=no", timeout=10) or ""
        tags[TAG_DIRTY] = str(bool(status.strip())).lower()
    for env, tag in (("DVC_EXP_NAME", TAG_DVC_EXP), ("DVC_STAGE", TAG_DVC_STAGE)):
        if os.environ.get(env):
            tags[tag] = os.environ[env]
    if model_target:
        tags[TAG_MODEL] = model_target.rsplit(".", 1)[-1]
    return tags


def run_name(model_target: str | None, data_name: str) -> str:
    """The DVC experiment's name under `dvc exp run`, else model, data and start time.

    Runs you can tell apart in the MLflow UI (MLflow's own names derive from the seed).
    """
    import time

    exp = os.environ.get("DVC_EXP_NAME")
    if exp:
        return exp
    model = (model_target or "model").rsplit(".", 1)[-1].lower()
    return f"{model}-{data_name}-{time.strftime('%Y%m%d-%H%M%S')}"


LOCK_FILE = "uv.lock"


@functools.cache
def installed_versions() -> dict[str, str]:
    """Name -> version of every installed distribution, names normalised as pip does.

    Read once per process, as installs do not change under it.

    importlib.metadata parses every METADATA file to give names and versions (a quarter of a
    second for this project's 180 distributions, paid by every tracked process); the wheel
    spec puts both in the `<name>-<version>.dist-info` folder's name, so those are read from
    there, in sys.path order as importlib would, and only other layouts from their metadata.
    """
    import contextlib
    import re
    import sys
    from importlib import metadata

    def normalise(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    versions: dict[str, str] = {}
    for entry in sys.path:
        folder = Path(entry or ".")
        if not folder.is_dir():
            continue
        found: dict[str, list[Path]] = {}
        for info in folder.iterdir():
            lower = info.name.lower()
            if lower.endswith((".dist-info", ".egg-info")):  # as importlib finds them
                stem = info.name.rsplit(".", 1)[0]
                found.setdefault(normalise(stem.partition("-")[0]), []).append(info)
        for name, infos in sorted(found.items()):
            stem = infos[0].name.rsplit(".", 1)[0]
            _, dash, version = stem.partition("-")
            plain = infos[0].name.endswith(".dist-info") and dash and "-" not in version
            if len(infos) == 1 and plain and "_" not in version:
                versions.setdefault(name, version)  # the wheel spec's <name>-<version>
                continue
            if len(infos) > 1:  # leftovers of an upgrade: the one importlib would pick
                with contextlib.suppress(metadata.PackageNotFoundError):
                    versions.setdefault(name, metadata.version(name))
                    continue
            for info in infos:  # .egg-info, escaped versions
                dist = metadata.PathDistribution(info)
                if dist.metadata["Name"] and dist.version:
                    versions.setdefault(normalise(dist.metadata["Name"]), dist.version)
    return versions


KEY_PACKAGES = ("mbegu", "torch", "lightning", "mlflow", "dvc", "hydra-core", "optuna")


def requirements_text() -> str:
    """The installed packages, pip-freeze-like: what it takes to rebuild an environment."""
    versions = installed_versions()
    return "".join(f"{name}=={version}\n" for name, version in sorted(versions.items()))


def environment_tags(root: Path) -> dict[str, str]:
    """The run's environment at a glance: Python, the key packages' versions, the lock's md5."""
    import hashlib

    versions = installed_versions()
    tags = {"mbegu.python": platform.python_version()}
    tags |= {f"mbegu.version.{p}": versions[p] for p in KEY_PACKAGES if p in versions}
    lock = root / LOCK_FILE
    if lock.is_file():
        tags["mbegu.lock.md5"] = hashlib.md5(lock.read_bytes()).hexdigest()
    return tags | machine_tags()


def machine_tags() -> dict[str, str]:
    """What the bytes of a result depend on beyond code, data and config.

    torch's CPU kernels and its thread count (see mbegu.threads and mbegu.evaluation.committed).
    """
    from mbegu import threads

    tags = {}
    budget = threads.applied()
    if budget is not None:
        tags["mbegu.threads"] = budget.describe()
    torch = sys.modules.get("torch")
    if torch is not None:
        capability = torch.backends.cpu.get_cpu_capability()
        tags["mbegu.cpu"] = f"{platform.machine()} {capability}"
    return tags
