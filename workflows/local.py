"""``semcgcnn screen --engine jobflow``: the :class:`ScreeningMaker` Flow run by ``jobflow.run_locally``.

The job store is jobflow's configured ``JOB_STORE`` where the user has one (``JOBFLOW_CONFIG_FILE``,
``~/.jobflow.yaml`` or ``JOBFLOW_JOB_STORE``: a MongoDB store, say), else file-backed in the screen
folder (``out/jobflow/``: a maggma ``JSONStore`` for the job documents and one for the ``data``
additional store), so a run's documents outlive it either way; the folder lock, the manifest and
the part store are the plain screen's, so ``--resume`` after a kill skips every committed compound.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import jobflow
from jobflow import JobStore, run_locally
from jobflow.settings import JobflowSettings
from maggma.stores import JSONStore

from semcgcnn.parallel import n_workers
from semcgcnn.paths import check_output_dir
from semcgcnn.pipeline.screen.config import BATCH_SIZE, ScreenConfig
from semcgcnn.pipeline.screen.run import ScreenSummary, StageClock
from semcgcnn.pipeline.screen.store import RunLock

from .schemas import ScreenSummaryDoc
from .screen.maker import ScreeningMaker

if TYPE_CHECKING:
    from jobflow import Flow, Job

    from semcgcnn.progress import Advance

log = logging.getLogger(__name__)

JOBFLOW_DIR = "jobflow"
COMPOUNDS_PER_WORKER = 24
"""run_locally runs one job at a time, so each batch job gets this many compounds per slab
process (at least ``batch_size``): a job's pool then waits for its slowest compound only a few
times per screen, while parts (what a kill can lose) stay ``batch_size``. Measured on the 210
binaries, 2 workers: 4 gave 1.36x the plain screen's wall time (27 jobs), 24 gave 1.09x (5 jobs)."""


def file_job_store(folder: Path) -> JobStore:
    """A jobflow JobStore in two JSON files under ``folder`` (docs, and the ``data`` store where
    atomate2's jobs put their large outputs, e.g. a force-field relaxation's trajectory)."""
    folder.mkdir(parents=True, exist_ok=True)

    def json_store(name: str) -> JSONStore:
        return JSONStore(str(folder / f"{name}.json"), read_only=False)

    return JobStore(json_store("docs"), additional_stores={"data": json_store("data")})


def configured_job_store(settings: JobflowSettings | None = None) -> JobStore | None:
    """The ``JOB_STORE`` of the user's jobflow configuration, or ``None`` where there is none (jobflow's
    default, an in-memory store, is not one: its documents would die with the process).

    Args:
        settings: jobflow's settings; default ``jobflow.SETTINGS``, which jobflow reads on import
            from ``JOBFLOW_CONFIG_FILE`` (else ``~/.jobflow.yaml``) and ``JOBFLOW_*`` variables.
    """
    settings = jobflow.SETTINGS if settings is None else settings
    return settings.JOB_STORE if "JOB_STORE" in settings.model_fields_set else None


def screen_job_store(folder: Path) -> JobStore:
    """The job store of ``--engine jobflow``: :func:`configured_job_store` where there is one (its
    docs store is all the screen needs: no job stores the candidates, which travel as files in
    the screen folder), else :func:`file_job_store` in ``folder``.

    Args:
        folder: where the file-backed store goes when none is configured.
    """
    store = configured_job_store()
    if store is None:
        return file_job_store(folder)
    log.info("job documents go to jobflow's configured JOB_STORE (%s)", type(store.docs_store).__name__)
    return store


class _JobCounter(logging.Handler):
    """Advances a progress bar on each of jobflow's "Finished job" log records."""

    def __init__(self, advance: Advance):
        super().__init__(logging.INFO)
        self.advance = advance

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("Finished job - "):
            self.advance(1, msg.removeprefix("Finished job - ").split(" (")[0])


@contextmanager
def _count_jobs(advance: Advance):
    logger = logging.getLogger("jobflow.core.job")
    handler, level, propagate = _JobCounter(advance), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the bar reports progress; jobflow's own lines would break it
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def run_flow(
    flow: Flow | Job,
    folder: Path,
    advance: Advance | None = None,
    strict: bool = True,
    create_folders: bool = False,
    store: JobStore | None = None,
) -> dict:
    """``jobflow.run_locally`` of ``flow`` with the job store in ``folder`` (:func:`file_job_store`,
    job folders there too with ``create_folders``), ``advance(1, job name)`` called as each job
    finishes, and the known noise of its dependencies silenced. ``strict``: raise on the first
    failed job (otherwise failures are left to the Flow's own error handling). ``store``: another
    job store to use instead of the file store (job folders stay in ``folder``)."""
    with contextlib.ExitStack() as stack:
        if advance is not None:
            stack.enter_context(_count_jobs(advance))
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", "cd is deprecated", FutureWarning)  # monty's, inside run_locally
        warnings.filterwarnings("ignore", "No tensor product accelerator", UserWarning)  # SevenNet on a CPU
        store = file_job_store(folder) if store is None else store
        return run_locally(
            flow,
            store=store,
            root_dir=folder,
            create_folders=create_folders,
            log=False,
            raise_immediately=strict,
            ensure_success=strict,
        )


def run_screen_jobflow(
    cfg: ScreenConfig, out: Path, workers: int = 1, resume: bool = False, batch_size: int = BATCH_SIZE
) -> ScreenSummary:
    """Run (or resume) the screen ``cfg`` into ``out`` as a jobflow Flow; the same tables as
    :func:`~semcgcnn.pipeline.screen.run.run_screen`. User mistakes raise a
    :class:`~semcgcnn.errors.UserError`."""
    out = Path(out).resolve()
    check_output_dir(out)
    t0 = time.perf_counter()
    with RunLock(out):
        job_size = max(batch_size, COMPOUNDS_PER_WORKER * n_workers(workers))
        maker = ScreeningMaker(config=cfg, batch_size=batch_size, job_size=job_size, workers=workers)
        flow = maker.make(out, resume)
        responses = run_flow(flow, out / JOBFLOW_DIR, store=screen_job_store(out / JOBFLOW_DIR))
    doc: ScreenSummaryDoc = responses[flow.jobs[-1].uuid][1].output
    seconds = {
        **StageClock.for_screen(),
        "assemble": 0.0,
        **doc.stage_seconds,
        "total": time.perf_counter() - t0,
    }
    return ScreenSummary(
        out,
        doc.n_candidates,
        doc.n_compounds,
        doc.n_slabs,
        doc.n_error_rows,
        seconds,
        {k: Path(v) for k, v in doc.table_paths.items()},
    )
