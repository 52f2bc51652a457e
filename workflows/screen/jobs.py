"""The screen's jobflow jobs: each calls the pipeline's own stage functions (nothing twice).

``find_candidates_job`` (writes the candidates to the screen folder's to-do files,
:mod:`.handoff`) → ``screen_batches_job`` (replaces itself with one ``screen_batch_job`` per batch
of compounds, or, past :data:`FAN_OUT_WIDTH` batches, with that many fan-out jobs over ranges of
them: a tree, so no replacement Flow and no output list grows with the screen) →
``assemble_job``. Jobs exchange plain JSON (a folder, positions in the to-do list), so they run
under ``run_locally``, FireWorks or jobflow-remote alike, and every job document has a size
independent of the number of candidates. Every batch job commits its compounds to the screen's
:class:`~semcgcnn.pipeline.screen.store.PartStore` and skips compounds already committed, so a
rerun (``--resume``, a FireWorks rerun of a lost job) never redoes or duplicates a compound.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import pyarrow.parquet as pq
from jobflow import Flow, Response, job

from semcgcnn.paths import check_output_dir
from semcgcnn.pipeline.screen import run as stages
from semcgcnn.pipeline.screen.config import ScreenConfig
from semcgcnn.pipeline.screen.store import PartStore
from semcgcnn.schema import TABLES, provenance
from semcgcnn.workflows.schemas import CandidatesDoc, CompoundBatchDoc, ScreenSummaryDoc

from .handoff import read_index, read_todo, write_todo

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def _predictor(model: str | None, mlip_prior: bool = False):
    """The model, loaded once per worker process (jobs of one process share it)."""
    return stages.load_predictor(model, mlip_prior)


@job
def find_candidates_job(
    parameters: dict, out: str, resume: bool = False, run_id: str | None = None
) -> CandidatesDoc:
    """Candidates of the screen, written to the folder's to-do files, and the folder's manifest
    (:func:`~semcgcnn.pipeline.screen.run.start_screen`); user mistakes raise a
    :class:`~semcgcnn.errors.UserError`. ``run_id`` (the Flow's) lets a workflow manager rerun this
    job on the folder it started."""
    cfg = ScreenConfig.from_parameters(parameters)
    check_output_dir(Path(out))
    predictor = _predictor(cfg.model, cfg.mlip_prior)
    start = stages.start_screen(cfg, Path(out), predictor.model_id, resume, run_id)
    found, todo = start.found, start.todo
    log.info(
        "%d candidates (%d already done), %d input errors",
        len(found.candidates),
        len(found.candidates) - len(todo),
        len(found.errors),
    )
    write_todo(out, todo, [c.compound_id for c in found.candidates], found.errors)
    return CandidatesDoc(
        out_dir=out,
        source=found.source,
        model_id=predictor.model_id,
        parameters=parameters,
        n_candidates=len(found.candidates),
        n_candidate_errors=len(found.errors),
        n_already_done=len(found.candidates) - len(todo),
        n_todo=len(todo),
    )


FAN_OUT_WIDTH = 32
"""Most jobs one fan-out job replaces itself with (batch jobs, or fan-out jobs over ranges)."""


def ranges(start: int, stop: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` in consecutive ranges of at most ``size`` positions."""
    return [(i, min(i + size, stop)) for i in range(start, stop, size)]


@job
def screen_batches_job(
    out: str,
    n_todo: int,
    parameters: dict,
    job_size: int,
    batch_size: int,
    workers: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> Response:
    """Fan out positions ``start`` … ``stop`` of the to-do list (all by default): replace this job
    by one batch job per ``job_size`` compounds, or, past :data:`FAN_OUT_WIDTH` of them, by at
    most that many fan-out jobs over equal ranges; its output becomes the list of their outputs
    (nested lists of :class:`CompoundBatchDoc`, so the assemble job waits for all of them)."""
    stop = n_todo if stop is None else stop
    jobs_needed = -(-(stop - start) // job_size)
    if jobs_needed <= FAN_OUT_WIDTH:
        cuts = ranges(start, stop, job_size)
        jobs = [screen_batch_job(out, a, b, parameters, batch_size, workers) for a, b in cuts]
        for j, (a, _) in zip(jobs, cuts, strict=True):
            j.name = f"screen batch {a // job_size + 1}/{-(-n_todo // job_size)}"
    else:
        cuts = ranges(start, stop, job_size * -(-jobs_needed // FAN_OUT_WIDTH))
        jobs = [
            screen_batches_job(out, n_todo, parameters, job_size, batch_size, workers, a, b) for a, b in cuts
        ]
        for j, (a, b) in zip(jobs, cuts, strict=True):
            j.name = f"screen in batches {a + 1}-{b} of {n_todo}"
    if not jobs:
        return Response(output=[])
    return Response(replace=Flow(jobs, output=[j.output for j in jobs], name="screen batches"))


@job
def screen_batch_job(
    out: str, start: int, stop: int, parameters: dict, batch_size: int, workers: int = 1
) -> CompoundBatchDoc:
    """Cut, predict, Wulff-construct and commit the compounds at positions ``start`` … ``stop - 1``
    of the to-do list, in parts of ``batch_size`` as their slabs finish (``workers`` slab
    processes); compounds already committed are skipped."""
    cfg = ScreenConfig.from_parameters(parameters)
    candidates = read_todo(out, start, stop)
    store = PartStore(Path(out))
    done = store.done()
    todo = [c for c in candidates if c.compound_id not in done]
    clock = stages.StageClock.for_screen()
    parts = stages.screen_and_commit(
        todo, cfg.slab, _predictor(cfg.model, cfg.mlip_prior), store, workers, batch_size, clock
    )
    return CompoundBatchDoc(
        compound_ids=[c.compound_id for c in candidates],
        n_compounds_screened=len(todo),
        n_compounds_skipped=len(candidates) - len(todo),
        n_slabs=_rows(parts, "slabs"),
        n_error_rows=_rows(parts, "errors"),
        parts=[str(p) for p in parts],
        stage_seconds=dict(clock),
    )


def flatten(batch_docs: list) -> list[CompoundBatchDoc]:
    """The batch documents of a fan-out's (nested) output lists, in order."""
    out: list[CompoundBatchDoc] = []
    for d in batch_docs:
        out += flatten(d) if isinstance(d, list) else [d]
    return out


def _rows(parts: list[Path], table: str) -> int:
    return sum(pq.read_metadata(p / f"{table}.parquet").num_rows for p in parts)


class IncompleteScreenError(RuntimeError):
    """The part store lacks compounds the screen must hold (a lost job not yet rerun)."""


@job
def assemble_job(found: CandidatesDoc, batch_docs: list[CompoundBatchDoc]) -> ScreenSummaryDoc:
    """The six final tables from the committed parts, in candidate order (PartStore.assemble)."""
    store = PartStore(Path(found.out_dir))
    index = read_index(found.out_dir)
    compound_ids = index["compound_ids"]
    missing = sorted(set(compound_ids) - store.done())
    if missing:
        raise IncompleteScreenError(
            f"{len(missing)} compound(s) not committed, e.g. {missing[0]}; "
            "rerun their batch jobs, then this one"
        )
    order = {cid: i for i, cid in enumerate(compound_ids)}
    t0 = time.perf_counter()
    paths = store.assemble(
        order, index["candidate_errors"], provenance(found.model_id, found.source, found.parameters)
    )
    rows = {name: pq.read_metadata(paths[name]).num_rows for name in TABLES}
    seconds: dict[str, float] = {"assemble": time.perf_counter() - t0}
    for doc in flatten(batch_docs):
        for stage, s in doc.stage_seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + s
    return ScreenSummaryDoc(
        out_dir=found.out_dir,
        model_id=found.model_id,
        n_candidates=len(order),
        n_compounds=rows["compounds"],
        n_slabs=rows["slabs"],
        n_error_rows=rows["errors"],
        table_paths={k: str(v) for k, v in paths.items()},
        table_rows=rows,
        stage_seconds=seconds,
    )
