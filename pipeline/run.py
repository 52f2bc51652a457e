"""The screening run: candidates → slabs → predictions → Wulff → Parquet tables, resumable.

A short orchestrator over the pure stages (:mod:`.candidates`, :mod:`.slabs`, :mod:`.batch`)
and the part store (:mod:`.store`): slabs are cut in a process pool, one compound per task,
largest cells first; finished compounds are collected into batches, and each batch is
predicted, Wulff-constructed and committed as one part. ``resume=True`` skips committed
compounds; the final tables are assembled from the parts in candidate order.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from semcgcnn.parallel import as_completed_map, n_workers
from semcgcnn.progress import QUIET, Bars
from semcgcnn.schema import provenance

from .batch import screen_batch
from .candidates import Candidate, CandidateError, CandidateSet, screen_candidates
from .config import BATCH_SIZE, ScreenConfig
from .slabs import SlabConfig, SlabResult, compound_slabs
from .store import PartStore

log = logging.getLogger(__name__)

MANIFEST = "run.json"


class ScreenError(RuntimeError):
    """A user-facing problem that stops the run (one-line message)."""


@dataclass
class ScreenSummary:
    out: Path
    n_candidates: int
    n_compounds: int
    n_slabs: int
    n_errors: int
    stage_seconds: dict[str, float]
    tables: dict[str, Path]


def cut_slabs(compound_id: str, structure, cfg: SlabConfig) -> SlabResult:
    """The slab stage of one compound; any failure becomes the compound's error row."""
    try:
        return compound_slabs(compound_id, structure, cfg)
    except Exception as exc:  # noqa: BLE001 - one compound's failure must not stop the screen
        return SlabResult(compound_id, errors=[{"stage": "slabs", "id": compound_id,
                                               "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]}])


def _timed_slabs(job: tuple[Candidate, SlabConfig]) -> tuple[Candidate, SlabResult, float]:
    cand, cfg = job
    t0 = time.perf_counter()
    res = cut_slabs(cand.compound_id, cand.structure, cfg)
    return cand, res, time.perf_counter() - t0


def _candidates(cfg: ScreenConfig) -> CandidateSet:
    try:
        found = screen_candidates(cfg.source, Path(cfg.structures) if cfg.structures else None, cfg.e_above_hull,
                                  cfg.elements, cfg.max_atoms, cfg.limit)
    except CandidateError as exc:
        raise ScreenError(str(exc)) from None
    if not found.candidates:
        if found.n_valid:
            raise ScreenError("no candidate structures to screen after the filters (--elements, --max-atoms)")
        first = found.errors[0] if found.errors else {"id": "-", "reason": "none found"}
        raise ScreenError(f"no candidate structures to screen: {len(found.errors)} input(s) failed, "
                          f"e.g. {first['id']}: {first['reason']}")
    return found


def _load_predictor(model: str | None):
    from semcgcnn.model.predict import load_pretrained

    try:
        return load_pretrained(model)
    except FileNotFoundError as exc:
        raise ScreenError(f"model checkpoint not found: {exc}") from None


def _check_manifest(out: Path, params: dict, model_id: str, resume: bool) -> None:
    """Refuse to mix two screens in one folder; write the manifest of a new one."""
    path = out / MANIFEST
    if path.exists():
        if not resume:
            raise ScreenError(f"{out} already holds a screen; pass --resume to continue it or choose a new --out")
        old = json.loads(path.read_text())
        if old.get("parameters") != params or old.get("model_id") != model_id:
            raise ScreenError(f"{out} holds a screen with other parameters or model; use a new --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"parameters": params, "model_id": model_id}, indent=1))
        os.replace(tmp, path)


def run_screen(cfg: ScreenConfig, out: Path, workers: int = 0, resume: bool = False, batch_size: int = BATCH_SIZE,
               progress: Bars = QUIET) -> ScreenSummary:
    """Run (or resume) a screen into ``out``; returns counts, stage times and the table paths."""
    out, workers, t_start = Path(out), n_workers(workers), time.perf_counter()
    found = _candidates(cfg)
    seconds = {"candidates": time.perf_counter() - t_start, "slabs_wall": 0.0, "slabs_cpu": 0.0,
               "predictions": 0.0, "wulff_and_write": 0.0}
    predictor = _load_predictor(cfg.model)
    params = cfg.parameters()
    _check_manifest(out, params, predictor.model_id, resume)
    store = PartStore(out)
    order = {c.compound_id: i for i, c in enumerate(found.candidates)}
    done = store.done()
    todo = [c for c in found.candidates if c.compound_id not in done]
    log.info("%d candidates (%d already done), %d input errors; %d workers", len(order), len(done & set(order)),
             len(found.errors), workers)
    slabs_bar = progress.stage("slabs", len(order), completed=len(order) - len(todo))
    batch_bar = progress.stage("predictions+wulff", len(order), completed=len(order) - len(todo))

    def commit(batch: list[tuple[Candidate, SlabResult]]) -> None:
        t0 = time.perf_counter()
        tables = screen_batch(batch, predictor)
        t1 = time.perf_counter()
        store.commit(tables, [c.compound_id for c, _ in batch])
        seconds["predictions"] += t1 - t0
        seconds["wulff_and_write"] += time.perf_counter() - t1
        batch_bar(len(batch))

    t_slabs = time.perf_counter()
    jobs = [(c, cfg.slab) for c in sorted(todo, key=lambda c: -c.n_atoms)]  # largest cells first
    with _torch_threads(1 if workers > 1 else None):
        buffer: list[tuple[Candidate, SlabResult]] = []
        for cand, res, dt in as_completed_map(_timed_slabs, jobs, workers):
            seconds["slabs_cpu"] += dt
            slabs_bar(1)
            buffer.append((cand, res))
            if len(buffer) >= batch_size:
                commit(buffer)
                buffer = []
        seconds["slabs_wall"] = time.perf_counter() - t_slabs
        if buffer:
            commit(buffer)

    t0 = time.perf_counter()
    paths = store.assemble(order, found.errors, provenance(predictor.model_id, found.source, params))
    seconds["assemble"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    n_rows = {name: pq.read_metadata(paths[name]).num_rows for name in ("slabs", "errors", "compounds")}
    return ScreenSummary(out, len(order), n_rows["compounds"], n_rows["slabs"], n_rows["errors"], seconds, paths)


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """torch's thread count set to ``n`` for a block (``None``: unchanged): one thread per
    process while slab workers share the cores."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
