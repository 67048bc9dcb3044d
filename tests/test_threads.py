"""The thread budget: where each mbegu process's torch thread count comes from, in the order
the docs give (OMP_NUM_THREADS, `threads` in the config, the usable cores shared by the
command's processes), read back from the real command's MLflow runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mbegu.config.compose import compose
from mbegu.errors import MbeguError
from mbegu.threads import cgroup_cpu_quota, plan, processes_at_once, usable_cores

from .helpers.cli import run_cli, runs_of
from .helpers.project import FAST


def test_a_cgroup_quota_caps_the_cores(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path) is None  # no cgroup files: no quota
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) == 2.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(v1) is None


def test_the_environment_then_the_config_then_the_cores() -> None:
    cores = usable_cores()
    assert plan(3, 1, {"OMP_NUM_THREADS": "5"}).describe() == "5 (from OMP_NUM_THREADS)"
    assert plan(3, 1, {"OMP_NUM_THREADS": "junk"}).describe() == "3 (from config)"
    shared = plan(None, 2, {})
    assert (shared.threads, shared.source) == (max(1, cores // 2), "cores")
    assert plan(None, 10 * cores, {}).threads == 1  # never none
    with pytest.raises(MbeguError, match=r"threads=0 must be a whole number"):
        plan(0, 1, {})


def test_the_processes_one_command_runs_at_once() -> None:
    from mbegu.sweeps.study import sweep_config

    assert processes_at_once(compose([])) == 1
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]
    assert processes_at_once(compose(ddp)) == 2
    assert processes_at_once(compose(["trainer=ddp", "trainer.accelerator=gpu"])) == 1
    workers = ["sweep=default", "sweep.workers=3"]
    assert processes_at_once(sweep_config(workers)) == 3
    assert processes_at_once(sweep_config([*workers, *ddp])) == 6


@pytest.mark.slow
def test_a_plain_run_takes_the_cores_its_affinity_allows(project, client, experiment) -> None:
    """Pinned to one core (as `taskset -c 0` would), with no OMP_NUM_THREADS: one thread."""
    result = run_cli(
        "train",
        *FAST,
        f"tracking.experiment_name={experiment}",
        cwd=project,
        unset=("OMP_NUM_THREADS",),
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [run] = runs_of(client, experiment)
    assert run.data.tags["mbegu.threads"] == "1 (1 usable cores / 1 process)"
    assert run.data.tags["mbegu.cpu"].startswith(("x86_64 ", "aarch64 ", "arm64 "))


@pytest.mark.slow
def test_omp_num_threads_set_by_the_user_wins(project, client, experiment) -> None:
    result = run_cli(
        "train",
        *FAST,
        "threads=2",
        f"tracking.experiment_name={experiment}",
        cwd=project,
        env={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    [run] = runs_of(client, experiment)
    assert run.data.tags["mbegu.threads"] == "1 (from OMP_NUM_THREADS)"


def test_idle_threads_sleep_in_the_command_unless_told_otherwise() -> None:
    code = (
        "import os, sys\nfrom mbegu.cli.main import run\nsys.argv = ['mbegu', '--version']\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\nprint(os.environ['OMP_WAIT_POLICY'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for given, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        extra = {} if given is None else {"OMP_WAIT_POLICY": given}
        out = subprocess.run(
            [sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True
        )
        assert out.stdout.split()[-1] == expected, out.stderr
