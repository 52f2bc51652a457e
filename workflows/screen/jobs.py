"""The screen's jobflow jobs: each calls the pipeline's own stage functions (nothing twice).

``find_candidates_job`` → ``screen_batches_job`` (replaces itself with one
``screen_batch_job`` per batch of compounds) → ``assemble_job``. Jobs exchange plain JSON and
MSONable objects, so they run under ``run_locally``, FireWorks or jobflow-remote alike. The
candidates' structures and ids live in the job store's ``data`` store, in chunks; a batch job is
given references to its chunks, never the structures, so no job document, FireWorks spec or
fan-out record grows with the number of candidates (a batch job's own inputs are bounded by
its size). Every
batch job commits its compounds to the screen's :class:`~semcgcnn.pipeline.screen.store.PartStore` and
skips compounds already committed, so a rerun (``--resume``, a FireWorks rerun of a lost job)
never redoes or duplicates a compound.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import pyarrow.parquet as pq
from jobflow import Flow, OutputReference, Response, job

from semcgcnn.paths import check_output_dir
from semcgcnn.pipeline.screen import run as stages
from semcgcnn.pipeline.screen.config import ScreenConfig
from semcgcnn.pipeline.screen.store import PartStore
from semcgcnn.schema import TABLES, provenance
from semcgcnn.workflows.schemas import (
    CANDIDATES_PER_BLOB,
    CandidateChunk,
    CandidatesDoc,
    CompoundBatchDoc,
    ScreenSummaryDoc,
    chunked,
)

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=2)
def _predictor(model: str | None, mlip_prior: bool = False):
    """The model, loaded once per worker process (jobs of one process share it)."""
    return stages.load_predictor(model, mlip_prior)


@job(data=["candidates", "compound_ids"])  # each chunk's structures, and the ids: data-store documents
def find_candidates_job(
    parameters: dict, out: str, resume: bool = False, run_id: str | None = None
) -> CandidatesDoc:
    """Candidates of the screen and the folder's manifest
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
    return CandidatesDoc(
        out_dir=out,
        source=found.source,
        model_id=predictor.model_id,
        parameters=parameters,
        compound_ids=[c.compound_id for c in found.candidates],
        candidate_errors=found.errors,
        n_already_done=len(found.candidates) - len(todo),
        todo=chunked(todo),
        n_todo=len(todo),
    )


def batch_ranges(n_todo: int, job_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` positions of consecutive batches of at most ``job_size`` of ``n_todo`` candidates."""
    return [(i, min(i + job_size, n_todo)) for i in range(0, n_todo, job_size)]


def chunk_references(
    found_uuid: str, start: int, stop: int, chunk_size: int = CANDIDATES_PER_BLOB
) -> tuple[list[OutputReference], int]:
    """References to the ``todo`` chunks of the candidates job ``found_uuid`` that hold the
    candidates ``[start, stop)``, and the offset of ``start`` in the first of them."""
    first, last = start // chunk_size, (stop - 1) // chunk_size
    refs = [OutputReference(found_uuid, (("a", "todo"), ("i", k))) for k in range(first, last + 1)]
    return refs, start - first * chunk_size


@job
def screen_batches_job(
    found_uuid: str, n_todo: int, parameters: dict, out: str, job_size: int, batch_size: int, workers: int = 1
) -> Response:
    """Fan out: replace this job by one batch job per ``job_size`` of the ``n_todo`` candidates of
    the candidates job ``found_uuid``, each given references to its chunks (resolved when it runs);
    its output becomes the list of their :class:`CompoundBatchDoc` (so the assemble job waits for
    all of them)."""
    jobs = []
    for start, stop in batch_ranges(n_todo, job_size):
        refs, offset = chunk_references(found_uuid, start, stop)
        jobs.append(screen_batch_job(refs, offset, stop - start, parameters, out, batch_size, workers))
    for i, j in enumerate(jobs):
        j.name = f"screen batch {i + 1}/{len(jobs)}"
    if not jobs:
        return Response(output=[])
    return Response(replace=Flow(jobs, output=[j.output for j in jobs], name="screen batches"))


@job
def screen_batch_job(
    chunks: list[CandidateChunk],
    offset: int,
    count: int,
    parameters: dict,
    out: str,
    batch_size: int,
    workers: int = 1,
) -> CompoundBatchDoc:
    """Cut, predict, Wulff-construct and commit ``count`` candidates starting ``offset`` into the
    concatenated ``chunks``, in parts of ``batch_size`` as their slabs finish (``workers`` slab
    processes); compounds already committed are skipped."""
    candidates = [c for chunk in chunks for c in chunk.candidates][offset : offset + count]
    cfg = ScreenConfig.from_parameters(parameters)
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


def _rows(parts: list[Path], table: str) -> int:
    return sum(pq.read_metadata(p / f"{table}.parquet").num_rows for p in parts)


class IncompleteScreenError(RuntimeError):
    """The part store lacks compounds the screen must hold (a lost job not yet rerun)."""


@job
def assemble_job(found: CandidatesDoc, batch_docs: list[CompoundBatchDoc]) -> ScreenSummaryDoc:
    """The six final tables from the committed parts, in candidate order (PartStore.assemble)."""
    store = PartStore(Path(found.out_dir))
    missing = sorted(set(found.compound_ids) - store.done())
    if missing:
        raise IncompleteScreenError(
            f"{len(missing)} compound(s) not committed, e.g. {missing[0]}; "
            "rerun their batch jobs, then this one"
        )
    order = {cid: i for i, cid in enumerate(found.compound_ids)}
    t0 = time.perf_counter()
    paths = store.assemble(
        order, found.candidate_errors, provenance(found.model_id, found.source, found.parameters)
    )
    rows = {name: pq.read_metadata(paths[name]).num_rows for name in TABLES}
    seconds: dict[str, float] = {"assemble": time.perf_counter() - t0}
    for doc in batch_docs:
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
