"""The screen's jobflow jobs: each calls the pipeline's own stage functions (nothing twice).

``find_candidates_job`` → ``screen_batches_job`` (replaces itself with one
``screen_batch_job`` per batch of compounds) → ``assemble_job``. Jobs exchange plain JSON and
MSONable objects, so they run under ``run_locally``, FireWorks or jobflow-remote alike. Every
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
from jobflow import Flow, Response, job

from semcgcnn.paths import check_output_dir
from semcgcnn.pipeline.screen import run as stages
from semcgcnn.pipeline.screen.candidates import Candidate
from semcgcnn.pipeline.screen.config import ScreenConfig
from semcgcnn.pipeline.screen.store import PartStore
from semcgcnn.schema import TABLES, provenance
from semcgcnn.workflows.schemas import (
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


@job(data="candidates")  # each CandidateChunk's structures: one document of the data store
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
    )


def batches(todo: list[Candidate], batch_size: int) -> list[list[Candidate]]:
    """``todo`` in consecutive batches of at most ``batch_size`` compounds."""
    return [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]


@job
def screen_batches_job(
    todo: list[CandidateChunk], parameters: dict, out: str, job_size: int, batch_size: int, workers: int = 1
) -> Response:
    """Fan out: replace this job by one batch job per ``job_size`` compounds of ``todo``; its output
    becomes the list of their :class:`CompoundBatchDoc` (so the assemble job waits for all of them)."""
    candidates = [c for chunk in todo for c in chunk.candidates]
    jobs = [screen_batch_job(b, parameters, out, batch_size, workers) for b in batches(candidates, job_size)]
    for i, j in enumerate(jobs):
        j.name = f"screen batch {i + 1}/{len(jobs)}"
    if not jobs:
        return Response(output=[])
    return Response(replace=Flow(jobs, output=[j.output for j in jobs], name="screen batches"))


@job
def screen_batch_job(
    candidates: list[Candidate], parameters: dict, out: str, batch_size: int, workers: int = 1
) -> CompoundBatchDoc:
    """Cut, predict, Wulff-construct and commit some compounds, in parts of ``batch_size`` as their
    slabs finish (``workers`` slab processes); compounds already committed are skipped."""
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
