"""`mbegu <command>`: a thin dispatcher that imports nothing heavy until a command runs.

`mbegu --help` answers without importing torch, Lightning or MLflow. The parser lives in
mbegu.cli.parser and the commands in mbegu.cli.stages and mbegu.cli.tools; here are the
process's set-up before a command runs and the one-line errors after it fails.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
from collections.abc import Sequence

from mbegu.cli.parser import build_parser
from mbegu.errors import MbeguError


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `mbegu` command, every failure ending as one line on stderr.

    Args:
        argv: the words after `mbegu` (None: sys.argv); tests and sweep workers pass them to
            run a command in a process that has the libraries imported already.

    Returns:
        The exit status: the command's own (0 when done), 2 for an error the user can fix
        (an MbeguError, a full disk), 1 for a bug, 130 or 143 when interrupted.
    """
    args = build_parser().parse_args(argv)
    # `kill -USR2 <pid>`: where a stuck command is (stderr)
    if hasattr(signal, "SIGUSR2") and sys.__stderr__ is not None:
        # The process's own stderr: sys.stderr may be a stand-in without a file descriptor.
        faulthandler.register(signal.SIGUSR2, file=sys.__stderr__, all_threads=True)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # pyarrow's default allocator (mimalloc) keeps freed memory from the system: a table's
    # cells, read whole and then split, would hold the prepare stage's peak to the end.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from mbegu.logs import quiet_libraries, set_verbose

    if args.verbose:
        set_verbose()
    quiet_libraries()  # before MLflow is imported: it reads its level once
    # mbegu's models need no pickle: MLflow refuses pickled models unless the user opts in.
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    from mbegu.security import mask_secrets

    try:
        return args.func(args)
    except MbeguError as err:
        print(f"mbegu: error: {mask_secrets(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print("mbegu: interrupted", file=sys.stderr)
        return 143 if "signal 15" in str(err) else 130
    except Exception as err:  # a bug or an input nobody foresaw: still one line
        from mbegu.processes import interrupt_behind

        interrupt = interrupt_behind(err)
        if interrupt is not None:  # a library's clean-up failed while an interrupt unwound
            print("mbegu: interrupted", file=sys.stderr)
            return 143 if "signal 15" in str(interrupt) else 130
        from mbegu.disk import disk_full_line, full_error

        full = full_error(err)
        if full is not None:  # a full disk is the user's to fix, wherever it struck
            print(f"mbegu: error: {mask_secrets(disk_full_line(full))}", file=sys.stderr)
            return 2
        if os.environ.get("MBEGU_DEBUG") == "1":
            raise
        from mbegu.errors import first_line

        print(
            f"mbegu: error: unexpected {type(err).__name__}: {mask_secrets(first_line(err))} "
            f"(MBEGU_DEBUG=1 shows the traceback; please report it)",
            file=sys.stderr,
        )
        return 1


def run() -> int:
    """The `mbegu` program (console script, `python -m mbegu`): main() in a tuned process.

    Its garbage collector is tuned for one command (mbegu.processes) and its idle OpenMP threads
    sleep (mbegu.threads).
    """
    from mbegu.processes import skip_gc_at_exit, tune_gc_for_command
    from mbegu.threads import idle_threads_sleep

    idle_threads_sleep()
    tune_gc_for_command()
    try:
        return main()
    finally:
        skip_gc_at_exit()
