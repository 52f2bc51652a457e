"""The ``labels`` table row of one labelled slab (schema ``semcgcnn.schema.SCHEMAS["labels"]``)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

from semcgcnn.pipeline.slabs import slab_structure
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

from .calc import CalcResult
from .surface import surface_energy, work_functions

if TYPE_CHECKING:
    import os


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
