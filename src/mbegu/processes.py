"""What a process owns and how it ends, and the `mbegu` command's garbage-collector settings.

Which process owns something (an MLflow run, a sweep trial) and whether it still lives, signals
held over a write, SIGTERM and Lightning's exits turned into interrupts.

A SIGKILL, an OOM kill or a power cut gives a process no chance to close what it owns; a later
command on the same machine finds the owner gone and closes it instead.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# What signal.getsignal returns: a handler, SIG_DFL or SIG_IGN (ints), or None.
SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def owner() -> tuple[str, int, float]:
    """(host, pid, process start time) of this process; the start time tells a reused pid.

    Returns:
        The host name, the pid and the process's start time (seconds since the epoch).
    """
    import psutil

    pid = os.getpid()
    return socket.gethostname(), pid, psutil.Process(pid).create_time()


def alive(pid: int, started: float | None = None) -> bool:
    """Does process `pid` on this machine still run (and is it the one started then)?

    Args:
        pid: The process id, on this machine.
        started: Its start time, as owner() gave it; None: any process with that pid.

    Returns:
        Whether it runs, and is the same process when `started` is given.
    """
    import psutil

    try:
        process = psutil.Process(pid)
        return started is None or abs(process.create_time() - started) < 1.0
    except (psutil.Error, ValueError):
        return False


@contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends, then act as they would have.

    For work that an exception must not cut in half (MLflow's asynchronous queue is restarted by its
    flush; interrupted there, it hangs the next flush and the process's exit). Outside the main
    thread, where signals cannot be handled, it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, FrameType | None]] = []
    # Keyed by int: a caught signal arrives as its number.
    previous: dict[int, SignalHandler] = {
        s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)
    }
    for s in previous:
        signal.signal(s, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if caught:
            signum, frame = caught[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)


# Set by SIGTERM (and by Ctrl-C) in this process; a sweep checks them between trials.
TERMINATED = threading.Event()
INTERRUPTED = threading.Event()


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler, `kill`, `docker stop`) stops training like Ctrl-C.

    Lightning writes interrupted.ckpt and the run ends KILLED instead of vanishing mid-write. The
    signal is also remembered in TERMINATED, and Ctrl-C (raised as Python raises it) in
    INTERRUPTED: an interrupt raised where Python swallows it (a __del__, a weakref callback,
    "Exception ignored in ...") still stops the sweep. Outside the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        TERMINATED.set()  # remembered: code that swallows the exception cannot undo the stop
        raise KeyboardInterrupt(f"signal {signum}")

    def ctrl_c(signum: int, frame: FrameType | None) -> None:
        INTERRUPTED.set()
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGTERM, interrupt)
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:  # not where Ctrl-C is ignored or handled
        signal.signal(signal.SIGINT, ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if signal.getsignal(signal.SIGINT) is ctrl_c:
            signal.signal(signal.SIGINT, previous_int)


def interrupt_behind(err: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that `err` was raised while handling, if any.

    Optuna's journal lock, interrupted between its rename and its unlink, unlinks again in its
    `except BaseException` and raises FileNotFoundError in place of the interrupt.
    """
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


@contextmanager
def exit_as_interrupt() -> Iterator[None]:
    """Around trainer.fit, an interrupt kept an interrupt.

    Lightning turns Ctrl-C and SIGTERM into sys.exit(1) after its teardown and leaves SIGINT
    ignored; a sweep and the CLI need to know it was an interrupt (exit 130/143, the run KILLED, the
    other workers stopped). A SIGTERM whose KeyboardInterrupt Python swallowed (raised inside a
    weakref callback or a __del__, "Exception ignored in ...") comes back from Lightning's own
    SIGTERM flag as SIGTERMException, a SystemExit that would escape Optuna's trial handling: an
    interrupt too.

    Raises:
        KeyboardInterrupt: In place of Lightning's SystemExit after an interrupt or SIGTERM.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    try:
        yield
    except SystemExit as stop:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if isinstance(stop.__context__, KeyboardInterrupt):
            raise stop.__context__ from None
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt from None
        if isinstance(stop, SIGTERMException) or TERMINATED.is_set():
            raise KeyboardInterrupt(f"signal {signal.SIGTERM.value}") from None
        raise


# CPython runs a full collection (every live object walked) whenever generation 1 has been
# collected `threshold2` times (10) and the oldest generation has grown by a quarter. Importing
# torch, Lightning and MLflow builds about 700,000 objects in spurts, so a command paid 9 full
# passes that freed almost nothing. Then, at exit, Python walked them all once more.
FULL_COLLECTION_EVERY = 1000  # generation-1 collections (about 7 million allocations)
_in_command = False  # set by tune_gc_for_command: this process is the `mbegu` command


def tune_gc_for_command() -> None:
    """For the `mbegu` process only (not a library caller's): full collections 100x rarer.

    The young generations are collected as usual; a sweep also collects between trials
    (collect_between_trials).
    """
    global _in_command
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
    _in_command = True


def freeze_imports() -> None:
    """Freeze what a sweep worker imported for its trials, so no later collection walks it.

    In the `mbegu` command, once a sweep worker has imported what its trials run: freeze those
    objects (the modules live as long as the process), so no later collection walks them; without
    it the first collect_between_trials walks all 700,000. Elsewhere nothing.
    """
    if _in_command:
        gc.freeze()


def collect_between_trials() -> None:
    """After each sweep trial, in the `mbegu` command: free the trial's cycles, freeze the rest.

    It frees what the trial left in reference cycles (a Trainer and its module point at each other,
    and by the trial's end they are old enough that only a full collection frees them), then freezes
    what survives, so the next trial's collection walks only the objects made since. Elsewhere
    nothing: a library caller's process keeps its own settings.
    """
    if _in_command:
        gc.collect()
        gc.freeze()


def skip_gc_at_exit() -> None:
    """Call as the command returns: Python's teardown then does not walk the live objects again.

    The objects alive now are freed by the operating system when the process ends; frozen
    (gc.freeze), Python's teardown does not walk them again. atexit handlers still
    run; mbegu closes its files explicitly (`with`), so nothing waits on a finalizer that teardown
    would have run.
    """
    gc.freeze()
