"""The one process-pool helper: run a function over work items in worker processes, and tie
child processes' lives to this one's.

``fork`` is used where available so workers start without re-importing pymatgen and torch.
"""

from __future__ import annotations

import atexit
import ctypes
import multiprocessing as mp
import multiprocessing.util  # noqa: F401 - registers its exit handler before this module's
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import wait
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext


def n_workers(workers: int | None = None) -> int:
    """``workers``, or all cores when it is 0 or ``None``."""
    return workers or os.cpu_count() or 1


_PR_SET_PDEATHSIG = 1


def _prctl():
    """libc's ``prctl`` (Linux), or ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _arm_parent_death(prctl: Callable[..., int] | None, parent: int) -> bool:
    """Ask the kernel to SIGKILL this process when its parent dies (it survives ``exec``); exits at
    once if ``parent`` is already gone. False where the kernel cannot."""
    if prctl is None or prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        return False
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    return True


def exits_with_parent_hook() -> Callable[[], None]:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child (and what it ``exec``s) is killed
    by the kernel when this process dies, even by ``kill -9`` (Linux; elsewhere it does nothing).
    Its own children are not: a launcher such as mpirun must pass the death on, or they watch
    their parent. The kernel counts the calling *thread* as the parent: start long runs from a
    thread that outlives them (the main thread)."""
    prctl, parent = _prctl(), os.getpid()  # looked up before the fork: the hook only calls it

    def hook() -> None:
        _arm_parent_death(prctl, parent)

    return hook


def _exit_with_parent(parent: int) -> None:
    """Make this worker die with its parent: the kernel's parent-death signal on Linux, else a
    thread that polls the parent id. Without it, a ``kill -9`` of the main process leaves idle
    workers (hundreds of MB each) behind for minutes."""
    if _arm_parent_death(_prctl(), parent):
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _init_worker(parent: int) -> None:
    """Each worker: exits with its parent, and leaves Ctrl-C to the parent (which stops the run
    and says how to resume) instead of printing a traceback of its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes (forked where the platform allows) that die with this one."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(),)
    )


def map_chunks(
    fn: Callable[[object], list],
    chunks: Sequence,
    workers: int | None = None,
    parallel: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list:
    """Concatenate ``fn(chunk)`` over ``chunks`` in order, over ``workers`` processes."""
    workers = n_workers(workers)
    out: list = []
    if parallel and workers > 1 and len(chunks) > 1:
        with process_pool(workers) as pool:
            results: Iterable[list] = pool.map(fn, chunks)
            for res in results:
                out.extend(res)
                if progress:
                    progress(len(res))
    else:
        for ch in chunks:
            res = fn(ch)
            out.extend(res)
            if progress:
                progress(len(res))
    return out


class WorkerDiedError(RuntimeError):
    """A worker process ended without returning its item's result (killed by a signal, or exited)."""


def death_reason(exitcode: int | None) -> str:
    """What ended a worker process, from its exit code: ``"worker killed by SIGSEGV"``; a SIGKILL
    names the usual sender, the kernel's out-of-memory killer."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    return f"worker exited with status {exitcode} before returning a result"


def _serve(fn: Callable[[object], object], conn: Connection, parent: int) -> None:
    """A worker's loop: ``(index, item)`` in, ``(index, ok, result or exception)`` out, until ``None``."""
    _LIVE.clear()  # the parent's workers, not this one's
    _init_worker(parent)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stopped by its parent, not mid-item by a group's SIGTERM
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, item = msg
        try:
            reply = (index, True, fn(item))
        except Exception as exc:  # noqa: BLE001 - raised again in the parent, as a pool does
            reply = (index, False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - a result or an exception that does not pickle
            conn.send((index, False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: BaseContext, fn: Callable[[object], object]):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(fn, child, os.getpid()), daemon=True)
        self.proc.start()
        _LIVE.add(self)
        child.close()

    def stop(self, kill: bool) -> None:
        """End the process: asked to exit (``kill`` False, a second at most) or SIGKILLed at once."""
        _LIVE.discard(self)
        if not kill:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(1.0)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


_LIVE: set[_Worker] = set()
"""This process's workers. A caller interrupted while it holds the generator of
:func:`as_completed_map` closes it only when the generator is collected; workers still alive at
exit are killed here, before multiprocessing's own exit handler joins them (they ignore its SIGTERM)."""


def _kill_live_workers() -> None:
    for w in list(_LIVE):
        w.stop(kill=True)


atexit.register(_kill_live_workers)  # after multiprocessing.util's handler, so it runs first


def as_completed_map(
    fn: Callable[[object], object],
    items: Sequence,
    workers: int | None = None,
    on_crash: Callable[[object, str], object] | None = None,
) -> Iterator:
    """``fn(item)`` for every item, computed in worker processes and yielded as each finishes.

    A worker that dies on an item (a segfault in a C extension, an out-of-memory kill) costs that
    item only: its outcome is ``on_crash(item, reason)`` (``reason`` from :func:`death_reason`;
    without ``on_crash``, :class:`WorkerDiedError`), a fresh worker takes its place and the other
    items go on. An exception raised by ``fn`` is raised here. Even ``workers=1`` uses a worker
    process, so that nothing an item does can take the caller down. When the caller stops
    (Ctrl-C, an exception, an abandoned generator) the workers are killed at once: their items
    are pure computations, with nothing to save.

    Args:
        fn: the function of one item (module level, for platforms without ``fork``).
        items: the work; submit the largest first to keep the workers balanced (the caller orders it).
        workers: processes (0 or ``None``: all cores), never more than there are items.
        on_crash: the outcome of an item whose worker died, from the item and the reason.
    """
    if not items:
        return
    workers = min(n_workers(workers), len(items))
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    queue = deque(enumerate(items))
    idle: list[_Worker] = []
    busy: dict[_Worker, tuple[int, object]] = {}
    finished = False

    def fill() -> None:
        """Give every free worker slot an item (a new worker where none is idle)."""
        while queue and len(busy) < workers:
            w = idle.pop() if idle else _Worker(ctx, fn)
            job = queue.popleft()
            try:
                w.conn.send(job)
            except OSError:  # died while idle: its successor takes the item
                queue.appendleft(job)
                w.stop(kill=True)
                continue
            busy[w] = job

    try:
        while queue or busy:
            fill()
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy]))
            outcomes = []
            for w in [w for w in busy if w.conn in ready or w.proc.sentinel in ready]:
                _, item = busy.pop(w)
                try:
                    outcomes.append(w.conn.recv()[1:])
                    idle.append(w)
                except (EOFError, OSError):
                    w.stop(kill=True)
                    reason = death_reason(w.proc.exitcode)
                    if on_crash is None:
                        raise WorkerDiedError(reason) from None
                    outcomes.append((True, on_crash(item, reason)))
            fill()  # the workers go on while the caller handles these outcomes
            for ok, value in outcomes:
                if not ok:
                    raise value
                yield value
        finished = True
    finally:  # also on Ctrl-C or an abandoned generator: queued work is dropped, running work killed
        for w in [*busy, *idle]:
            w.stop(kill=not finished)
