"""Processes as the tests watch them, from /proc: alive, children, CPU time, and waiting."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path


def stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (state first); [] when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def alive(pid: int) -> bool:
    """``pid`` exists and is not a zombie."""
    fields = stat(pid)
    return bool(fields) and fields[0] != "Z"


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    return [
        int(p.parent.name)
        for p in Path("/proc").glob("[0-9]*/stat")
        if (f := stat(int(p.parent.name))) and int(f[1]) == pid and f[0] != "Z"
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 when gone)."""
    fields = stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def wait_for(predicate: Callable[[], bool], timeout: float = 300.0) -> bool:
    """Poll ``predicate`` every 50 ms until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
