"""The labelling jobs (small ``@job`` functions; each calls one pipeline function).

A calculation job's output is a :class:`~semcgcnn.pipeline.labelling.calc.CalcResult`, or
``{"error": reason}`` when the calculation failed for a reason worth a table row (GPAW's crash,
a convergence failure): the row job then writes an error row instead of a label, so no slab is
ever dropped silently. The row and collect jobs run even when an upstream atomate2 job failed
(``OnMissing.NONE``): a missing result becomes an error row naming the calculation.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from jobflow import JobConfig, job
from jobflow.core.reference import OnMissing

from semcgcnn.pipeline.labelling.calc import CalcResult, LabelError
from semcgcnn.workflows.schemas import LabelSetDoc

if TYPE_CHECKING:
    from atomate2.forcefields.schemas import ForceFieldTaskDocument
    from emmet.core.tasks import TaskDoc
    from pymatgen.core import Structure

log = logging.getLogger(__name__)
_TOLERANT = JobConfig(on_missing_references=OnMissing.NONE)


@job
def gpaw_calc_job(structure: Structure, kind: str, preset: str, relax: bool) -> CalcResult | dict:
    """One GPAW calculation in this job's folder (its own process; a crash is an error result). A
    relaxed bulk relaxes its cell too (converged settings only: at the ``fast`` cutoff the Pulay
    stress shrinks the cell, so there a warning is logged).

    ``structure``: the bulk or slab; ``kind``: ``"bulk"`` or ``"slab"``; ``preset``: a
    :data:`~semcgcnn.pipeline.labelling.gpaw.GPAW_PRESETS` name; ``relax``: relax before the
    single point.
    """
    from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS, run_gpaw

    relax_cell = relax and kind == "bulk"
    if relax_cell and preset == "fast":
        log.warning(
            "relaxing the bulk cell with the fast GPAW preset: its low cutoff's Pulay stress shrinks the "
            "cell (Mg: a 3.21 → 3.11 Å); use --preset default for a relaxed bulk"
        )
    try:
        return run_gpaw(structure, kind, GPAW_PRESETS[preset], Path.cwd(), relax=relax, relax_cell=relax_cell)
    except LabelError as exc:
        log.warning("GPAW %s calculation failed: %s", kind, exc)
        return {"error": f"GPAW {kind} calculation failed: {exc}"}


@job(config=_TOLERANT)
def vasp_result_job(task_doc: TaskDoc | None, kind: str) -> CalcResult | dict:
    """The :class:`CalcResult` of a finished atomate2 VASP job, read from its folder's files
    (``task_doc``: the job's task document, None when it failed; ``kind``: ``"bulk"`` or ``"slab"``)."""
    from semcgcnn.pipeline.labelling.vasp import parse_vasp_dir

    if task_doc is None:
        return {"error": f"the VASP {kind} job failed (see its job folder)"}
    folder = str(task_doc.dir_name).split(":", 1)[-1]  # atomate2 writes "host:/path"
    try:
        return parse_vasp_dir(Path(folder), kind)
    except (LabelError, OSError, ValueError) as exc:
        return {"error": f"VASP {kind} outputs in {folder} unreadable: {exc}"}


@job(config=_TOLERANT)
def forcefield_result_job(task_doc: ForceFieldTaskDocument | None, kind: str) -> CalcResult | dict:
    """The :class:`CalcResult` of a finished atomate2 force-field job (``task_doc``: the job's task
    document, None when it failed; ``kind``: ``"bulk"`` or ``"slab"``)."""
    from semcgcnn.pipeline.labelling.mlip import calc_result_from_forcefield_doc

    if task_doc is None:
        return {"error": f"the ML-potential {kind} job failed (see its log)"}
    return calc_result_from_forcefield_doc(task_doc, kind)


@job
def recut_slab_job(
    bulk_calc: CalcResult | dict | None, bulk_id: str, miller: list[int], termination: int, slab_config: dict
) -> dict:
    """The slab of one termination cut again from the *relaxed* bulk (``relax_bulk``): its row and
    its structure with the interior fixed, or an error.

    ``bulk_calc``: the bulk relaxation's result (an error dict or None when it failed);
    ``bulk_id``: the id the row carries; ``miller``: the facet; ``termination``: the
    termination's position among the facet's; ``slab_config``: the :class:`SlabConfig` as a
    plain dict.
    """
    from semcgcnn.pipeline.labelling.slabs import label_slabs, with_fixed_interior
    from semcgcnn.pipeline.slabs import SlabConfig

    if not isinstance(bulk_calc, CalcResult):
        return {"error": (bulk_calc or {}).get("error", "the bulk calculation failed")}
    cut, _ = label_slabs(
        bulk_calc.pmg_structure(), bulk_id, [tuple(miller)], cfg=SlabConfig.from_plain(slab_config)
    )
    if termination >= len(cut):
        return {
            "error": f"the relaxed bulk gives {len(cut)} terminations of {tuple(miller)}, "
            f"not {termination + 1}"
        }
    row, slab = cut[termination]
    return {"row": row, "structure": with_fixed_interior(slab.get_sorted_structure())}


@job(config=_TOLERANT)
def label_row_job(
    slab_id: str,
    slab: dict | None,
    slab_calc: CalcResult | dict | None,
    bulk_calc: CalcResult | dict | None,
    ref_calc: CalcResult | dict | None,
    meta: dict,
) -> dict:
    """``{"row": labels row}`` or ``{"error": errors row}`` for one slab. ``slab``: its slab-stage
    row, or the :func:`recut_slab_job` output. ``slab_id``: the slab's id; ``slab_calc``,
    ``bulk_calc`` and ``ref_calc``: the slab's, the bulk's and the rich-limit elemental
    reference's results (an error dict or None where one failed); ``meta``: the labelling's
    settings (``bulk_id``, ``backend``, ``preset``, ``relax_bulk``, ``relax_slabs``,
    ``rich_element``)."""
    from semcgcnn.pipeline.labelling.rows import row_or_error

    return row_or_error(slab_id, slab, slab_calc, bulk_calc, ref_calc, meta)


@job(config=_TOLERANT)
def collect_labels_job(
    results: list, slab_errors: list[dict], meta: dict, out: str | None = None, parameters: dict | None = None
) -> LabelSetDoc:
    """Every slab's row or error row, in slab order; written to ``out/labels.parquet`` and
    ``out/errors.parquet`` when ``out`` is given (``parameters``: the maker's, for the provenance)."""
    from semcgcnn.pipeline.labelling.rows import split_results

    rows, errors = split_results(results, slab_errors, meta["bulk_id"])
    paths = {}
    if out:
        from semcgcnn.pipeline.labelling.rows import write_label_tables

        paths = {
            k: str(v)
            for k, v in write_label_tables(
                rows, errors, out, f"semcgcnn label {meta['bulk_id']}", parameters or {}
            ).items()
        }
    return LabelSetDoc(
        bulk_id=meta["bulk_id"],
        backend=meta["backend"],
        preset=meta["preset"],
        rows=rows,
        errors=errors,
        table_paths=paths,
    )
