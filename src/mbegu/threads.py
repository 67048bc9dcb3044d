"""How many threads a process's torch may use: its share of the cores it may run on.

The cores are shared by the processes that mbegu runs at once on this machine.
torch starts one thread per core the machine has, in every process, whatever the process's CPU
affinity or container quota says. Two mbegu processes on the same cores (sweep workers, DDP
ranks, two trainings) then run twice as many busy threads as there are cores, which spin
against each other. The budget, in the order that wins:

1. ``OMP_NUM_THREADS`` in the environment: the user (or a scheduler) said how many.
2. ``threads`` in the config: a number set for the project or one command.
3. The usable cores (CPU affinity and cgroup quota) divided by the processes this command runs
   at once: ``sweep.workers`` times the DDP ranks on this machine, at least 1.

Independent commands side by side (two trainings, ``dvc exp run -j 2``, a training beside a
sweep) cannot see each other's budgets; what keeps them from slowing each other many times over is
that idle OpenMP threads sleep instead of spinning (``idle_threads_sleep``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mbegu.errors import MbeguError

ENV = "OMP_NUM_THREADS"
WAIT_POLICY = "OMP_WAIT_POLICY"


def idle_threads_sleep() -> None:
    """Make idle OpenMP threads sleep (PASSIVE) instead of spinning, unless the user set it.

    For the `mbegu` process, before torch loads OpenMP (which reads it once): a thread waiting for
    work otherwise spins on a core for a while first, the default, which burns the cores another
    process's threads need. The user's value wins.
    """
    os.environ.setdefault(WAIT_POLICY, "PASSIVE")


@dataclass(frozen=True)
class Budget:
    """The threads one process uses, and where the number came from (logged on each run).

    Attributes:
        threads: The threads torch may use.
        source: Where the number came from: "OMP_NUM_THREADS", "config" or "cores".
        cores: The usable cores (usable_cores).
        processes: The processes of this command that share them.
    """

    threads: int
    source: str  # "OMP_NUM_THREADS", "config" or "cores"
    cores: int
    processes: int

    def describe(self) -> str:
        """The budget as a run's log shows it: `8 (16 usable cores / 2 processes)`.

        Returns:
            The number of threads and where it came from.
        """
        if self.source == "cores":
            many = "process" if self.processes == 1 else "processes"
            return f"{self.threads} ({self.cores} usable cores / {self.processes} {many})"
        return f"{self.threads} (from {self.source})"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota.

    os.cpu_count() (what torch sizes its pools by) counts the machine's cores; Python's own
    os.process_cpu_count() (3.13+) honours affinity but not a container's quota.

    Returns:
        The number of cores, at least 1.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, max(1, int(quota)))
    return max(1, cores)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPU quota in cores of this process's cgroup, or None where there is none.

    It reads cgroup v2's ``cpu.max``, else v1's ``cfs_quota_us``; None too where neither can be
    read.

    Args:
        root: The cgroup file system's mount point.

    Returns:
        The quota in cores (fractional, e.g. 1.5), or None.
    """
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        if quota != "max":
            return int(quota) / int(period or 100_000)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def processes_at_once(cfg: Any) -> int:
    """How many processes of this command share the machine's cores.

    Sweep workers, each running its trials with the trainer's DDP ranks on this machine (CPU
    devices).

    Args:
        cfg: The composed config (its `sweep` and `trainer` nodes are read).

    Returns:
        sweep.workers times the CPU DDP ranks, at least 1.
    """
    workers = 1
    sweep = cfg.get("sweep") if hasattr(cfg, "get") else None
    if sweep is not None and sweep.get("workers"):
        workers = max(1, int(sweep.workers))
    ranks = 1
    trainer = cfg.get("trainer") or {}
    strategy = str(trainer.get("strategy") or "")
    devices = trainer.get("devices")
    if "ddp" in strategy and trainer.get("accelerator") == "cpu" and isinstance(devices, int):
        ranks = max(1, devices)
    return workers * ranks


def plan(configured: Any, processes: int, environ: Any = os.environ) -> Budget:
    """The budget for one process of `processes` that run at once (see the module's order).

    Args:
        configured: The config's `threads`: a whole number, or None.
        processes: The processes of this command that share the cores.
        environ: The environment to read OMP_NUM_THREADS from.

    Returns:
        The budget, and where its number came from.

    Raises:
        MbeguError: `threads` is set but not a whole number of at least 1.
    """
    cores = usable_cores()
    given = environ.get(ENV, "").strip()
    if given.isdigit() and int(given) > 0:
        return Budget(int(given), ENV, cores, processes)
    if configured is not None:
        if not isinstance(configured, int) or isinstance(configured, bool) or configured < 1:
            raise MbeguError(
                f"threads={configured!r} must be a whole number of at least 1, or null (the "
                "usable cores shared by the processes mbegu runs at once)"
            )
        return Budget(configured, "config", cores, processes)
    return Budget(max(1, cores // max(1, processes)), "cores", cores, processes)


_applied: Budget | None = None


def apply(budget: Budget) -> Budget:
    """Set torch's intra-op and inter-op threads to the budget, once per process.

    The inter-op pool can be sized only before its first use; a later budget sets intra-op.

    Args:
        budget: The budget to apply.

    Returns:
        The same budget, applied.
    """
    global _applied
    import torch

    torch.set_num_threads(budget.threads)
    if _applied is None:
        # RuntimeError: the pool already started with earlier work in this process.
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(budget.threads)
    _applied = budget
    return budget


def applied() -> Budget | None:
    """The budget this process set, if any (a library caller's process keeps torch's own).

    Returns:
        The last budget applied, or None.
    """
    return _applied


def budget_for(cfg: Any) -> Budget:
    """Plan and apply the budget a command with this config runs under.

    Args:
        cfg: The composed config (`threads`, `sweep.workers`, `trainer`).

    Returns:
        The budget applied.

    Raises:
        MbeguError: The config's `threads` is not a whole number of at least 1.
    """
    return apply(plan(cfg.get("threads"), processes_at_once(cfg)))
