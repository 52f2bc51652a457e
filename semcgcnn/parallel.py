"""Run a function over chunks of work, in a process pool when it pays off."""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor


def map_chunks(fn: Callable[[object], list], chunks: Sequence, workers: int | None = None,
               parallel: bool = True, progress: Callable[[int], None] | None = None) -> list:
    """Concatenate ``fn(chunk)`` over ``chunks`` (in order), over ``workers`` processes.

    ``fork`` is used where available so workers start without re-importing pymatgen.
    """
    workers = workers or os.cpu_count() or 1
    out: list = []
    if parallel and workers > 1 and len(chunks) > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            results = pool.map(fn, chunks)
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
