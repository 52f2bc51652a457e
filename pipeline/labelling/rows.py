"""The ``labels`` table row of one labelled slab (schema ``semcgcnn.schema.SCHEMAS["labels"]``)."""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING

from semcgcnn.pipeline.slabs import slab_structure
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

from .calc import CalcResult, LabelError
from .surface import surface_energy, work_functions

if TYPE_CHECKING:
    import os

log = logging.getLogger(__name__)


def slab_structure_json(slab_row: dict) -> str:
    """The unrelaxed slab of a slab-stage row as pymatgen JSON (what training reads)."""
    return json.dumps(slab_structure(slab_row).as_dict())


def label_row(
    slab_row: dict,
    slab: CalcResult,
    bulk: CalcResult,
    rich_reference: CalcResult | None,
    *,
    bulk_id: str,
    backend: str,
    preset: str,
    bulk_relaxed: bool,
    slab_relaxed: bool,
    rich: str = "Mg",
) -> dict:
    """One row: γ (eV/Å² and J/m²) with its chemical-potential convention, the work function of
    each face (NaN without electrons) and their mean, the method, settings and the unrelaxed slab.
    Raises :class:`~.calc.LabelError` when γ needs chemical potentials no convention gives."""
    gamma = surface_energy(slab, bulk, rich_reference, rich)
    if slab.fermi_eV is not None and slab.potential_z_eV:
        bottom, top = work_functions(slab.potential_z_eV, slab.fermi_eV, slab.pmg_structure())
    else:
        bottom = top = math.nan
    settings = {"slab": slab.settings, "bulk": bulk.settings}
    if rich_reference is not None:
        settings["rich_reference"] = {
            "formula": rich_reference.pmg_structure().composition.reduced_formula,
            "energy_per_atom_eV": rich_reference.energy_per_atom_eV,
        }
    return {
        "structure_id": slab_row["slab_id"],
        "bulk_id": bulk_id,
        "bulk_formula": bulk.pmg_structure().composition.reduced_formula,
        "formula": slab_row["formula"],
        "chemsys": "-".join(sorted({el.symbol for el in bulk.pmg_structure().composition.elements})),
        **{
            k: slab_row[k]
            for k in (
                "miller_h",
                "miller_k",
                "miller_l",
                "miller_index",
                "termination_index",
                "shift_frac",
                "n_atoms",
                "stoichiometric",
                "symmetric",
                "surface_area_A2",
            )
        },
        "surface_energy_eV_per_A2": gamma.eV_per_A2,
        "surface_energy_J_per_m2": gamma.eV_per_A2 * EV_PER_A2_TO_J_PER_M2,
        "work_function_eV": (bottom + top) / 2,
        "work_function_bottom_eV": bottom,
        "work_function_top_eV": top,
        "work_function_available": not math.isnan(bottom),
        "chemical_potential_convention": gamma.convention,
        "chemical_potentials_json": json.dumps(gamma.chemical_potentials_eV),
        "backend": backend,
        "preset": preset,
        "method": slab.method,
        "code_version": slab.code_version,
        "settings_json": json.dumps(settings, sort_keys=True, default=str),
        "slab_relaxed": slab_relaxed,
        "bulk_relaxed": bulk_relaxed,
        "n_ionic_steps": int(slab.n_ionic_steps),
        "wall_s": float(slab.wall_s),
        "structure_json": slab_structure_json(slab_row),
    }


def row_or_error(
    slab_id: str,
    slab: dict | None,
    slab_calc: CalcResult | dict | None,
    bulk_calc: CalcResult | dict | None,
    ref_calc: CalcResult | dict | None,
    meta: dict,
) -> dict:
    """``{"row": labels row}`` or ``{"error": errors row}`` for one slab, never an exception.

    ``slab_id``: the slab's id; ``slab``: its slab-stage row (or ``{"row": row}``, or an error
    dict); ``slab_calc``, ``bulk_calc`` and ``ref_calc``: the slab's, the bulk's and the rich-limit
    elemental reference's results (an ``{"error": reason}`` dict or None where one failed);
    ``meta``: the labelling's settings (``bulk_id``, ``backend``, ``preset``, ``relax_bulk``,
    ``relax_slabs``, ``rich_element``)."""

    def error(reason: str) -> dict:
        return {"error": {"stage": "label", "id": slab_id, "reason": reason}}

    if not isinstance(slab, dict) or "error" in slab:
        return error((slab or {}).get("error", "the slab could not be cut from the relaxed bulk"))
    for what, calc in (("slab", slab_calc), ("bulk", bulk_calc)):
        if not isinstance(calc, CalcResult):
            return error((calc or {}).get("error", f"the {what} calculation did not finish"))
    try:
        row = label_row(
            slab.get("row", slab),
            slab_calc,
            bulk_calc,
            ref_calc if isinstance(ref_calc, CalcResult) else None,
            bulk_id=meta["bulk_id"],
            backend=meta["backend"],
            preset=meta["preset"],
            bulk_relaxed=meta["relax_bulk"],
            slab_relaxed=meta["relax_slabs"],
            rich=meta["rich_element"],
        )
    except LabelError as exc:
        return error(str(exc))
    except Exception as exc:  # noqa: BLE001 - one slab's failure becomes its error row, never a lost row
        log.exception("label row of %s", slab_id)
        return error(f"{type(exc).__name__}: {exc}".splitlines()[0])
    return {"row": row}


def split_results(results: list, slab_errors: list[dict], bulk_id: str) -> tuple[list[dict], list[dict]]:
    """The labels rows and the error rows (the slab stage's ``slab_errors`` first) of the
    :func:`row_or_error` ``results`` of one bulk (``bulk_id``); anything else in ``results`` (a row
    that never came back) becomes an error row too, so no slab is dropped."""
    rows, errors = [], list(slab_errors)
    for r in results:
        if isinstance(r, dict) and "row" in r:
            rows.append(r["row"])
        else:
            errors.append(
                r["error"]
                if isinstance(r, dict) and "error" in r
                else {"stage": "label", "id": bulk_id, "reason": "a row job did not finish"}
            )
    return rows, errors


def write_label_tables(
    rows: list[dict], errors: list[dict], out: str | os.PathLike, source: str, parameters: dict
) -> dict:
    """``out/labels.parquet`` and ``out/errors.parquet`` with provenance (``parameters``: every
    setting of the labelling), committed together; returns ``{"labels": path, "errors": path}``."""
    from pathlib import Path

    from semcgcnn.schema import provenance, to_table, write_parquets

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta = provenance(model_id="", source=source, parameters=parameters)
    paths = {"labels": out / "labels.parquet", "errors": out / "errors.parquet"}
    write_parquets(
        {paths["labels"]: to_table("labels", rows), paths["errors"]: to_table("errors", errors)}, meta
    )
    return paths
