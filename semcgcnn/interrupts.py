"""Stopping signals as exceptions, so that a batch system's SIGTERM stops a command the way Ctrl-C
does: the exception unwinds through the run (worker and child processes are stopped, locks
released), and the command says what it kept and exits with 128 + the signal's number."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a ``KeyboardInterrupt``, so that every Ctrl-C cleanup runs for it too)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (once: a second
    SIGTERM during the cleanup is ignored). Elsewhere than in the main thread it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(signum)

    before = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def exit_status(exc: KeyboardInterrupt) -> int:
    """The shell's exit status for a stop: 130 for Ctrl-C, 143 for SIGTERM."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def stopped_by(exc: KeyboardInterrupt) -> str:
    """How a command's one-line report of a stop starts: ``interrupted`` (Ctrl-C), ``stopped by SIGTERM``."""
    signum = getattr(exc, "signum", signal.SIGINT)
    return "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
