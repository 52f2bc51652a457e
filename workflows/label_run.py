"""``semcgcnn label``: a :class:`~.labelling.SurfacePropertyMaker` Flow run by ``jobflow.run_locally``
into ``OUT/labels.parquet`` and ``OUT/errors.parquet`` (job store and job folders in ``OUT/jobflow/``),
or, with ``dry_run`` (VASP), submit-ready input folders in ``OUT/vasp_inputs/``.

Every check a user can fail (the file, a bulk and not a slab, partial occupancy, an element the
backend lacks, no VASP command or POTCAR library) runs before the first job, as one-line
:class:`~semcgcnn.pipeline.labels.calc.LabelError`.
"""

from __future__ import annotations

import logging
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from semcgcnn.io import InputError, read_structure
from semcgcnn.paths import OutputPathError, check_output_dir
from semcgcnn.pipeline.labels.calc import LabelError
from semcgcnn.pipeline.labels.references import check_bulk, elemental_reference
from semcgcnn.pipeline.labels.surface import needs_rich_reference
from semcgcnn.progress import Advance

from .labelling import SurfacePropertyMaker
from .local import file_job_store
from .schemas import LabelSetDoc

log = logging.getLogger(__name__)
JOBFLOW_DIR = "jobflow"


@dataclass
class LabelSummary:
    out: Path
    n_slabs: int
    n_labels: int
    n_errors: int
    paths: dict[str, Path]
    wall_s: float


def read_bulk(path: Path):
    """The bulk crystal in ``path`` (one-line :class:`LabelError` for anything else)."""
    try:
        bulk = read_structure(Path(path))
    except (InputError, OSError) as exc:
        raise LabelError(f"{path}: {exc}") from None
    check_bulk(bulk, str(path))
    return bulk


def prepare(bulk, bulk_id: str, maker: SurfacePropertyMaker, dry_run: bool = False) -> list:
    """The slabs to label, after the backend's checks on every structure it will see."""
    cut, errors = maker.slabs(bulk, bulk_id)
    if not cut:
        reasons = "; ".join(e["reason"] for e in errors) or "no facet"
        raise LabelError(f"{bulk_id}: no slab to label ({reasons})")
    structures = [bulk, *(s for _, s in cut)]
    if any(needs_rich_reference(s.composition, bulk.composition) for _, s in cut):
        structures.append(elemental_reference(maker.rich_element))
    maker.backend_impl().check(structures, dry_run)
    return cut


def write_vasp_inputs(bulk, bulk_id: str, maker: SurfacePropertyMaker, out: Path) -> list[Path]:
    """VASP input folders (relax and static steps) of the bulk and of every slab, in ``out/vasp_inputs``."""
    from semcgcnn.pipeline.labels.slabs import with_fixed_interior
    from semcgcnn.pipeline.labels.vasp import write_dry_run

    cut = prepare(bulk, bulk_id, maker, dry_run=True)
    root = out / "vasp_inputs"
    folders = [write_dry_run(bulk, "bulk", root / f"{bulk_id}_bulk")]
    for row, slab in cut:
        folders.append(write_dry_run(with_fixed_interior(slab.get_sorted_structure()), "slab", root / row["slab_id"]))
    return folders


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


def _n_jobs(flow) -> int:
    return sum(_n_jobs(j) if hasattr(j, "jobs") else 1 for j in flow.jobs)


def run_label(bulk_path: Path, out: Path, maker: SurfacePropertyMaker, bars=None) -> LabelSummary:
    """Label the slabs of the bulk crystal in ``bulk_path`` into ``out`` (see the module note)."""
    from jobflow import run_locally

    from semcgcnn.progress import QUIET

    t0 = time.perf_counter()
    out = Path(out).resolve()
    try:
        check_output_dir(out)
    except OutputPathError as exc:
        raise LabelError(str(exc)) from None
    bulk = read_bulk(bulk_path)
    bulk_id = Path(bulk_path).stem
    cut = prepare(bulk, bulk_id, maker)
    flow = maker.make(bulk, bulk_id, out)
    bars = bars or QUIET
    advance = bars.stage(f"{maker.backend} jobs", _n_jobs(flow))
    with _count_jobs(advance), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "cd is deprecated", FutureWarning)  # monty's, inside run_locally
        warnings.filterwarnings("ignore", "No tensor product accelerator", UserWarning)  # SevenNet on a CPU
        responses = run_locally(flow, store=file_job_store(out / JOBFLOW_DIR), root_dir=out / JOBFLOW_DIR,
                                create_folders=True, log=False, raise_immediately=False, ensure_success=False)
    final = responses.get(flow.jobs[-1].uuid)
    if not final:
        raise LabelError(f"the labelling flow did not finish; see the job folders in {out / JOBFLOW_DIR}")
    doc: LabelSetDoc = final[max(final)].output
    paths = {k: Path(v) for k, v in doc.table_paths.items()}
    log.info("%d slabs: %d labels, %d error rows", len(cut), len(doc.rows), len(doc.errors))
    return LabelSummary(out, len(cut), len(doc.rows), len(doc.errors), paths, time.perf_counter() - t0)
