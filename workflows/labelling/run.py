"""``semcgcnn label``: a :class:`~.labelling.SurfacePropertyMaker` Flow run by ``jobflow.run_locally``
into ``OUT/labels.parquet`` and ``OUT/errors.parquet`` (job store and job folders in ``OUT/jobflow/``),
or, with ``dry_run`` (VASP), submit-ready input folders in ``OUT/vasp_inputs/``.

Every check a user can fail (the file, a bulk and not a slab, partial occupancy, an element the
backend lacks, no VASP command or POTCAR library) runs before the first job, as one-line
:class:`~semcgcnn.pipeline.labelling.calc.LabelError`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from semcgcnn.io import InputError, read_structure
from semcgcnn.paths import check_output_dir
from semcgcnn.pipeline.labelling.calc import LabelError
from semcgcnn.pipeline.labelling.references import check_bulk
from semcgcnn.workflows.local import JOBFLOW_DIR, run_flow
from semcgcnn.workflows.schemas import LabelSetDoc

from .maker import SurfacePropertyMaker

if TYPE_CHECKING:
    from jobflow import Flow
    from pymatgen.core import Structure

    from semcgcnn.progress import Bars

log = logging.getLogger(__name__)


@dataclass
class LabelSummary:
    out: Path
    n_slabs: int
    n_labels: int
    n_errors: int
    paths: dict[str, Path]
    wall_s: float


def read_bulk(path: Path) -> Structure:
    """The bulk crystal in ``path`` (one-line :class:`LabelError` for anything else)."""
    try:
        bulk = read_structure(Path(path))
    except (InputError, OSError) as exc:
        raise LabelError(f"{path}: {exc}") from None
    check_bulk(bulk, str(path))
    return bulk


def prepare(
    bulk: Structure,
    bulk_id: str,
    maker: SurfacePropertyMaker,
    dry_run: bool = False,
    force_size: bool = False,
) -> tuple[list, list[dict]]:
    """The slabs to label and the slab stage's error rows (:meth:`SurfacePropertyMaker.slabs`),
    after the backend's checks (:meth:`SurfacePropertyMaker.check`) on every structure it will see:
    the bulk, the slabs and the rich element's reference where a slab needs it, and (unless
    ``force_size``) its check that each calculation fits in this machine's memory
    (:meth:`SurfacePropertyMaker.check_size`): the bulk's before any slab is cut."""
    if not force_size:
        maker.check_size([(bulk_id, bulk, "bulk")])
    cut, errors = maker.slabs(bulk, bulk_id)
    if not cut:
        reasons = "; ".join(e["reason"] for e in errors) or "no facet"
        raise LabelError(f"{bulk_id}: no slab to label ({reasons})")
    reference = maker.rich_reference(bulk, cut)
    maker.check([bulk, *(s for _, s in cut), *([reference] if reference is not None else [])], dry_run)
    if not force_size:
        maker.check_size([(row["slab_id"], s, "slab") for row, s in cut])
    return cut, errors


def write_vasp_inputs(bulk: Structure, bulk_id: str, maker: SurfacePropertyMaker, out: Path) -> list[Path]:
    """VASP input folders (relax and static steps) of the bulk and of every slab, in ``out/vasp_inputs``:
    the bulk relax relaxes the cell (ISIF 3) when ``maker``'s own bulk relax does (``relax_bulk``)."""
    from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
    from semcgcnn.pipeline.labelling.vasp import run_all_script

    from .vasp import write_dry_run

    cut, _ = prepare(bulk, bulk_id, maker, dry_run=True)
    root = out / "vasp_inputs"
    bulk_relax = maker.bulk_relax_maker
    relax_cell = bulk_relax is not None and bool(getattr(bulk_relax.input_set_generator, "relax_cell", False))
    folders = [write_dry_run(bulk, "bulk", root / f"{bulk_id}_bulk", relax_bulk_cell=relax_cell)]
    for row, slab in cut:
        folders.append(
            write_dry_run(with_fixed_interior(slab.get_sorted_structure()), "slab", root / row["slab_id"])
        )
    (root / "run_all.sh").write_text(run_all_script([f.name for f in folders]))
    (root / "run_all.sh").chmod(0o755)
    return folders


def _n_jobs(flow: Flow) -> int:
    return sum(_n_jobs(j) if hasattr(j, "jobs") else 1 for j in flow.jobs)


def finished_calculations(out: Path) -> tuple[int, Path]:
    """``(count, folder)``: the calculations of a label run in ``out`` that wrote their result
    (a GPAW job folder's ``output.json``), and the folder that holds their job folders."""
    where = Path(out) / JOBFLOW_DIR
    return len(list(where.glob("*/output.json"))), where


def run_label(
    bulk_path: Path,
    out: Path,
    maker: SurfacePropertyMaker,
    bars: Bars | None = None,
    force_size: bool = False,
) -> LabelSummary:
    """Label the slabs of the bulk crystal in ``bulk_path`` into ``out`` (see the module note);
    ``force_size``: skip the backend's check that each calculation fits in memory."""
    from semcgcnn.progress import QUIET

    t0 = time.perf_counter()
    out = Path(out).resolve()
    check_output_dir(out)
    bulk = read_bulk(bulk_path)
    bulk_id = Path(bulk_path).stem
    cut, slab_errors = prepare(bulk, bulk_id, maker, force_size=force_size)
    flow = maker.make(bulk, bulk_id, out, (cut, slab_errors))  # the slabs prepare cut, not cut again
    bars = bars or QUIET
    advance = bars.stage(f"{maker.backend} jobs", _n_jobs(flow))
    # not strict: a failed calculation becomes its slab's error row (the row jobs tolerate it)
    responses = run_flow(flow, out / JOBFLOW_DIR, advance, strict=False, create_folders=True)
    final = responses.get(flow.jobs[-1].uuid)
    if not final:
        raise LabelError(f"the labelling flow did not finish; see the job folders in {out / JOBFLOW_DIR}")
    doc: LabelSetDoc = final[max(final)].output
    paths = {k: Path(v) for k, v in doc.table_paths.items()}
    log.info("%d slabs: %d labels, %d error rows", len(cut), len(doc.rows), len(doc.errors))
    return LabelSummary(out, len(cut), len(doc.rows), len(doc.errors), paths, time.perf_counter() - t0)
