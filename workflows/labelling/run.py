"""``semcgcnn label``: a :class:`~.labelling.SurfacePropertyMaker` Flow run by ``jobflow.run_locally``
into ``OUT/labels.parquet`` and ``OUT/errors.parquet`` (job store and job folders in ``OUT/jobflow/``),
or, with ``dry_run`` (VASP, GPAW), submit-ready input folders in ``OUT/vasp_inputs/`` or
``OUT/gpaw_inputs/`` that :func:`collect` turns into the same tables once they have run.

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
from semcgcnn.pipeline.labelling.gpaw import COST_LIMIT_HOURS
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
    max_hours: float = COST_LIMIT_HOURS,
) -> tuple[list, list[dict]]:
    """The slabs to label and the slab stage's error rows (:meth:`SurfacePropertyMaker.slabs`),
    after the backend's checks (:meth:`SurfacePropertyMaker.check`) on every structure it will see:
    the bulk, the slabs and the rich element's reference where a slab needs it, and (unless
    ``force_size``) its check that each calculation fits in this machine's memory
    (:meth:`SurfacePropertyMaker.check_size`): the bulk's before any slab is cut. The estimated
    cost is logged (:func:`check_cost`) and, unless ``dry_run`` or ``force_size``, a calculation
    estimated above ``max_hours`` is refused."""
    if not force_size:
        maker.check_size([(bulk_id, bulk, "bulk")])
    cut, errors = maker.slabs(bulk, bulk_id)
    if not cut:
        reasons = "; ".join(e["reason"] for e in errors) or "no facet"
        raise LabelError(f"{bulk_id}: no slab to label ({reasons})")
    reference = maker.rich_reference(bulk, cut)
    maker.check([bulk, *(s for _, s in cut), *([reference] if reference is not None else [])], dry_run)
    calculations = [
        (bulk_id, bulk, "bulk"),
        *(() if reference is None else ((maker.rich_element, reference, "bulk"),)),
    ]
    calculations += [(row["slab_id"], s, "slab") for row, s in cut]
    check_cost(maker, calculations, None if (dry_run or force_size) else max_hours)
    if not force_size:
        maker.check_size([(row["slab_id"], s, "slab") for row, s in cut])
    return cut, errors


def check_cost(
    maker: SurfacePropertyMaker, calculations: list[tuple[str, Structure, str]], max_hours: float | None
) -> None:
    """Log the estimated cost of ``calculations`` (``(name, structure, kind)``) with ``maker``; a
    one-line LabelError when one is estimated above ``max_hours`` (None: never)."""
    from semcgcnn.pipeline.labelling.gpaw import COST_LAW, format_seconds

    seconds = maker.estimate_seconds(calculations)
    if seconds is None:
        return
    i = max(range(len(seconds)), key=seconds.__getitem__)
    name, s, kind = calculations[i]
    if max_hours is not None and seconds[i] > max_hours * 3600:
        raise LabelError(
            f"{name} {kind}: {len(s)} atoms, estimated {format_seconds(seconds[i])} with GPAW {maker.preset} "
            f"on this machine, above --max-hours {max_hours:g}; label a smaller cell, raise --max-hours "
            "or pass --force-size"
        )
    log.info(
        "GPAW %s: %d calculations, estimated %s in all on this machine (%s); the largest %s %s, %d atoms, %s",
        maker.preset,
        len(seconds),
        format_seconds(sum(seconds)),
        COST_LAW.machine,
        name,
        kind,
        len(s),
        format_seconds(seconds[i]),
    )


def write_inputs(bulk: Structure, bulk_id: str, maker: SurfacePropertyMaker, out: Path) -> list[Path]:
    """Input folders to run elsewhere, in ``out/vasp_inputs`` or ``out/gpaw_inputs`` (``maker``'s
    backend): the bulk, the rich element's reference where a slab needs it and every slab, each
    with a ``run.sh``, and the tree's manifest and ``run_all.sh``
    (:mod:`~semcgcnn.pipeline.labelling.inputs`), which ``semcgcnn label collect`` reads back.

    VASP: relax and static steps (atomate2's input sets); the bulk relax relaxes the cell (ISIF 3)
    when ``maker``'s own bulk relax does (``relax_bulk``). GPAW: the runner's ``input.json`` with
    ``maker``'s preset and relaxations. The slabs are cut from ``bulk`` as given (a relaxed
    bulk's slabs need a label run, which cuts them again from the relaxed cell)."""
    from semcgcnn.pipeline.labelling.inputs import ROOTS, write_manifest
    from semcgcnn.pipeline.labelling.slabs import with_fixed_interior

    backend = maker.backend
    cut, slab_errors = prepare(bulk, bulk_id, maker, dry_run=True)
    reference = maker.rich_reference(bulk, cut)
    root = out / ROOTS[backend]
    bulk_name, ref_name = f"{bulk_id}_bulk", f"{maker.rich_element}_reference"
    calcs = [(bulk_name, bulk, "bulk")]
    if reference is not None:
        calcs.append((ref_name, reference, "bulk"))
    calcs += [(row["slab_id"], with_fixed_interior(slab.get_sorted_structure()), "slab") for row, slab in cut]
    if backend == "vasp":
        from .vasp import write_dry_run

        generator = getattr(maker.bulk_relax_maker, "input_set_generator", None)
        relax_cell = bool(getattr(generator, "relax_cell", False))
        folders = [
            write_dry_run(s, kind, root / name, relax_bulk_cell=relax_cell and kind == "bulk")
            for name, s, kind in calcs
        ]
    else:
        from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS, write_gpaw_inputs

        settings = GPAW_PRESETS[maker.preset]
        relax = {"bulk": maker.relax_bulk, "slab": maker.relax_slabs}
        folders = [
            write_gpaw_inputs(s, kind, root / name, settings, relax[kind], relax[kind] and kind == "bulk")
            for name, s, kind in calcs
        ]
    write_manifest(
        root,
        backend,
        maker.meta(bulk_id),
        maker.parameters(),
        bulk_name,
        ref_name if reference is not None else None,
        [(row["slab_id"], row) for row, _ in cut],
        slab_errors,
    )
    return folders


def collect(tree: Path, out: Path | None = None) -> LabelSummary:
    """``labels.parquet`` and ``errors.parquet`` of the finished input tree ``tree`` (or a label
    run's output folder holding one), in ``out`` (default: the folder holding the tree)."""
    from semcgcnn.pipeline.labelling.inputs import collect_labels
    from semcgcnn.pipeline.labelling.rows import write_label_tables

    t0 = time.perf_counter()
    rows, errors, manifest = collect_labels(Path(tree))
    out = Path(out) if out is not None else Path(manifest["root"]).parent
    check_output_dir(out)
    source = f"semcgcnn label {manifest['meta']['bulk_id']}"  # the label run's own provenance
    paths = write_label_tables(rows, errors, out, source, manifest["parameters"])
    log.info("%d slabs: %d labels, %d error rows", len(manifest["slabs"]), len(rows), len(errors))
    return LabelSummary(out, len(manifest["slabs"]), len(rows), len(errors), paths, time.perf_counter() - t0)


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
    max_hours: float = COST_LIMIT_HOURS,
) -> LabelSummary:
    """Label the slabs of the bulk crystal in ``bulk_path`` into ``out`` (see the module note);
    ``force_size``: skip the backend's checks that each calculation fits in memory and in
    ``max_hours``."""
    from semcgcnn.progress import QUIET

    t0 = time.perf_counter()
    out = Path(out).resolve()
    check_output_dir(out)
    bulk = read_bulk(bulk_path)
    bulk_id = Path(bulk_path).stem
    cut, slab_errors = prepare(bulk, bulk_id, maker, force_size=force_size, max_hours=max_hours)
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
