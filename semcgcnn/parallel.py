"""The one process-pool helper: run a function over work items in worker processes.

``fork`` is used where available so workers start without re-importing pymatgen and torch.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


def n_workers(workers: int | None = None) -> int:
    """``workers``, or all cores when it is 0 or ``None``."""
    return workers or os.cpu_count() or 1


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes (forked where the platform allows)."""
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


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
    with process_pool(workers) as pool:
        pending = {pool.submit(fn, item) for item in items}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()
