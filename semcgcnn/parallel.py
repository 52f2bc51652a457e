"""The one process-pool helper: run a function over work items in worker processes.

``fork`` is used where available so workers start without re-importing pymatgen and torch.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


def n_workers(workers: int | None = None) -> int:
    """``workers``, or all cores when it is 0 or ``None``."""
    return workers or os.cpu_count() or 1


_PR_SET_PDEATHSIG = 1


def _exit_with_parent(parent: int) -> None:
    """Make this worker die with its parent: the kernel's parent-death signal on Linux, else a
    thread that polls the parent id. Without it, a ``kill -9`` of the main process leaves idle
    workers (hundreds of MB each) behind for minutes."""
    if sys.platform.startswith("linux"):
        try:
            if ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0:
                if os.getppid() != parent:  # the parent died before the signal was armed
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

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
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(os.getpid(),))


def map_chunks(fn: Callable[[object], list], chunks: Sequence, workers: int | None = None,
               parallel: bool = True, progress: Callable[[int], None] | None = None) -> list:
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


def as_completed_map(fn: Callable[[object], object], items: Sequence, workers: int | None = None) -> Iterator:
    """``fn(item)`` for every item, yielded as each finishes (in submission order without a pool).

    Submit the largest items first to keep the pool balanced: the caller orders ``items``.
    """
    workers = n_workers(workers)
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    pool = process_pool(workers)
    try:
        pending = {pool.submit(fn, item) for item in items}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
    finally:  # also on Ctrl-C or an abandoned generator: queued work is dropped, not finished
        pool.shutdown(wait=not sys.exc_info()[0], cancel_futures=True)
