"""The extra worker processes of `sweep.workers > 1`, started before the study's set-up.

Each worker waits for the parent MLflow run's id, which exists only once the coordinator has
opened the study and its run; so they are started first, and their start-up overlaps that
set-up. On Linux they are forked from the coordinator once it has imported what a trial needs
(torch, Lightning, MLflow, Optuna: seconds of CPU per process otherwise, paid again by every
worker), before it opens any file, connection or thread pool of its own; elsewhere (macOS's
system libraries are not safe to fork) they are fresh `mbegu` processes. `sweep.worker_start`
picks one by hand.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Literal, Protocol

from mbegu.errors import MbeguError

Start = Literal["auto", "fork", "spawn"]
# Once signalled, how long a worker may take to close its trial: longer than a locked SQLite
# store is waited for (tracking.store_retry_seconds, 60 s by default).
STOP_GRACE_S = 90.0


class Worker(Protocol):
    """What the coordinator needs of a worker: `subprocess.Popen`'s own methods."""

    def poll(self) -> int | None:
        """The exit code once the worker has ended, else None."""

    @property
    def pid(self) -> int:
        """The worker's process id."""

    def terminate(self) -> None:
        """Send the worker SIGTERM."""

    def kill(self) -> None:
        """Send the worker SIGKILL."""

    def wait(self) -> int:
        """Wait for the worker to end; its exit code."""


class Forked:
    """A forked worker, with Popen's poll/terminate/wait (os.waitpid underneath)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def _reap(self, flags: int) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, flags)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        """The exit code once the worker has ended, else None."""
        return self._reap(os.WNOHANG)

    def terminate(self) -> None:
        """Send the worker SIGTERM, unless it has ended."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """Send the worker SIGKILL, unless it has ended."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)

    def wait(self) -> int:
        """Wait for the worker to end; its exit code."""
        code = self._reap(0)
        assert code is not None  # waitpid without WNOHANG returns once the child has ended
        return code


class Workers:
    """Workers 1..count, each waiting on a pipe for the parent run's id (`go`).

    Closing the pipes unsent (`abandon`, or the coordinator dying) lets them exit without a trial.
    """

    def __init__(self, overrides: Sequence[str], count: int, start: Start = "auto") -> None:
        self.processes: list[Worker] = []
        self._pipes: list[int] = []
        if count < 1:
            return
        fork = start == "fork" or (start == "auto" and sys.platform.startswith("linux"))
        if fork:
            import_trial_modules()  # once, here: every forked worker shares them
        for index in range(1, count + 1):
            if fork:
                self._fork(overrides, index)
            else:
                self._spawn(overrides, index)

    def _spawn(self, overrides: Sequence[str], index: int) -> None:
        command = [sys.executable, "-m", "mbegu", "sweep", *overrides]
        command += ["--parent-run-id", "-", "--worker", str(index)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE)
        assert process.stdin is not None  # stdin=PIPE
        self.processes.append(process)
        self._pipes.append(os.dup(process.stdin.fileno()))
        process.stdin.close()

    def _fork(self, overrides: Sequence[str], index: int) -> None:
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the coordinator's code
            os.close(write)
            for other in self._pipes:  # the other workers' pipes are not this one's
                os.close(other)
            os._exit(_forked_worker(read, overrides, index))
        os.close(read)
        self.processes.append(Forked(pid))
        self._pipes.append(write)

    def go(self, parent: str) -> None:
        """Hand every worker the parent run's id: they open the study and start trials."""
        for fd in self._pipes:
            with contextlib.suppress(BrokenPipeError):  # it ended: wait() reports its code
                os.write(fd, parent.encode() + b"\n")
        self.abandon()

    def abandon(self) -> None:
        """Close the pipes: a worker still waiting for an id exits without a trial."""
        for fd in self._pipes:
            os.close(fd)
        self._pipes = []

    def terminate(self) -> None:
        """SIGTERM to every worker still running."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()

    def wait(self, interrupted: bool = False, grace: float = STOP_GRACE_S) -> None:
        """Wait for every worker; a failed one fails the sweep unless it was interrupted.

        Interrupted, each worker gets `grace` seconds to close its trial, then is killed: one
        stuck in native code never sees its KeyboardInterrupt, and the sweep must still stop.
        The killed worker's trial stays RUNNING until `fail_dead_trials` fails it.
        """
        try:
            codes = self._reap_all(grace if interrupted else None)
        except KeyboardInterrupt:  # they got the same Ctrl-C: let them close their trials
            self.terminate()
            self._reap_all(grace)
            raise
        if any(codes) and not interrupted:
            raise MbeguError(
                f"{sum(1 for c in codes if c)} of {len(codes)} extra sweep workers "
                f"failed (exit codes {codes}): see their output above; rerun to continue"
            )

    def _reap_all(self, grace: float | None) -> list[int]:
        """Every worker's exit code; with `grace`, those still running after it are killed."""
        if grace is not None:
            deadline = time.monotonic() + grace
            while any(p.poll() is None for p in self.processes) and time.monotonic() < deadline:
                time.sleep(0.1)
            for p in self.processes:
                if p.poll() is None:
                    print(f"sweep worker {p.pid} still running {grace:g} s after the stop: killed")
                    p.kill()
            sys.stdout.flush()
        return [p.wait() for p in self.processes]


def import_trial_modules() -> None:
    """Import what every trial runs before the first trial.

    Lightning, torch, torchmetrics through the pruning callback; mbegu's model, data and logging
    modules.
    """
    import importlib

    for name in (
        "optuna_integration.pytorch_lightning",
        "mbegu.data.datamodule",
        "mbegu.models.classifier",
        "mbegu.tracking.logger",
        "mbegu.training.callbacks",
        "mbegu.training.train",
    ):
        importlib.import_module(name)


def read_parent(source: int) -> str | None:
    """The parent run's id from the coordinator, or None when it closed the pipe unsent."""
    with os.fdopen(source, "rb") as pipe:
        line = pipe.readline().decode().strip()
    return line or None


def _forked_worker(source: int, overrides: Sequence[str], index: int) -> int:
    """The forked worker's whole life: the id, then the `mbegu sweep --worker` command."""
    from mbegu.cli.main import main

    try:
        parent = read_parent(source)
    except KeyboardInterrupt:  # Ctrl-C before the sweep began
        return 130
    if parent is None:
        return 0
    argv = ["sweep", *overrides, "--parent-run-id", parent, "--worker", str(index)]
    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    return code
