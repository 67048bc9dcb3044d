"""Which process owns something (an MLflow run, a sweep trial), and whether it still lives.

A SIGKILL, an OOM kill or a power cut gives a process no chance to close what it owns; a later
command on the same machine finds the owner gone and closes it instead.
"""

from __future__ import annotations

import os
import socket


def owner() -> tuple[str, int, float]:
    """(host, pid, process start time) of this process; the start time tells a reused pid."""
    import psutil

    pid = os.getpid()
    return socket.gethostname(), pid, psutil.Process(pid).create_time()


def alive(pid: int, started: float | None = None) -> bool:
    """Does process `pid` on this machine still run (and is it the one started then)?"""
    import psutil

    try:
        process = psutil.Process(pid)
        return started is None or abs(process.create_time() - started) < 1.0
    except (psutil.Error, ValueError):
        return False
