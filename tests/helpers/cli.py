"""The real `mbegu` console script, as a user would call it, and the store's runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

MBEGU = Path(sys.executable).with_name("mbegu")


def run_cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: int = 300,
    unset: tuple[str, ...] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`mbegu ARGS` to completion (`unset`: environment variables it must not see)."""
    merged = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [str(MBEGU), *args],
        cwd=cwd,
        env={**merged, **(env or {})},
        preexec_fn=preexec_fn,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """`mbegu ARGS` in the background, its output (stdout and stderr) in one text pipe: for
    tests that signal it mid-run.

    Ctrl-C is handled as on a terminal even when the suite runs as a background job, whose
    children a shell starts with SIGINT ignored (Python then never turns it into
    KeyboardInterrupt)."""
    return subprocess.Popen(
        [str(MBEGU), *args],
        cwd=cwd,
        text=True,
        env=os.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_terminal_ctrl_c,
    )


def _terminal_ctrl_c() -> None:
    """In the child before exec: SIGINT's default disposition, which Python replaces with its
    KeyboardInterrupt handler at start-up."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str, bytes]:
    """Run `args` with stderr on a pseudo-terminal 100 columns wide: (code, stdout, stderr).

    stdout is read once the command ends: for commands that print a few lines there.
    """
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=follower) as done:
        os.close(follower)
        seen = b""
        while True:
            try:
                block = os.read(leader, 4096)
            except OSError:  # the command closed the terminal
                break
            if not block:
                break
            seen += block
        out = done.stdout.read().decode() if done.stdout else ""
    os.close(leader)
    return done.returncode, out, seen


def start_ui(port: int, cwd: Path, log: Path | None = None) -> subprocess.Popen[str]:
    """`mbegu ui` on a port, in a process group of its own (so a test can always stop it);
    what it prints goes to `log`."""
    return subprocess.Popen(
        [str(MBEGU), "ui", "--port", str(port)],
        cwd=cwd,
        stdout=log.open("w") if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def runs_of(client: Any, experiment: str) -> list[Any]:
    """Every run of an experiment in the store (none if it does not exist)."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs([found.experiment_id])


def call_main(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`mbegu ARGS` through mbegu.cli.main.main in this process: the same code, exit code and
    printed lines as the command, without a process that imports torch, Lightning and MLflow
    again (seconds each). For tests of what a command says and writes; tests of the process
    itself (signals, threads, garbage collector, what libraries log) use run_cli."""
    import contextlib
    import io

    from mbegu.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    try:
        os.environ.update(env or {})
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse's usage errors and --help
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["mbegu", *args], code, out.getvalue(), err.getvalue())


def per_class_rows(client: Any, run_id: str, folder: Path) -> dict[str, dict[str, Any]]:
    """The run's per-class table (tables/per_class.json, MLflow's split-oriented JSON) as
    {class name: {column: value}}."""
    import json

    path = client.download_artifacts(run_id, "tables/per_class.json", str(folder))
    table = json.loads(Path(path).read_text())
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    return {row["class"]: row for row in rows}
