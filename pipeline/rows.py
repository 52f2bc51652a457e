"""Table rows of the screen, one function per table: plain dicts whose keys are the columns of
:data:`semcgcnn.schema.SCHEMAS` (units in the names)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from semcgcnn.datasets import EV_PER_A2_TO_J_PER_M2

from .candidates import Candidate
from .slabs import SlabResult
from .wulff import Facet, WulffResult

STRUCTURE_KEYS = ("lattice", "atomic_numbers", "frac_coords")
"""Keys of a slab row that hold the structure as arrays (the table stores pymatgen JSON instead)."""
PREDICTION_KEYS = ("slab_id", "compound_id", "miller_h", "miller_k", "miller_l", "miller_index", "termination_index")
"""Slab-row keys repeated on its prediction row."""
WULFF_VALUES = ("weighted_surface_energy_eV_per_A2", "weighted_surface_energy_J_per_m2", "weighted_work_function_eV",
                "shape_factor", "anisotropy", "dominant_area_fraction")


def miller_label(miller: Sequence[int]) -> str:
    return "({} {} {})".format(*miller)


def compound_row(cand: Candidate, res: SlabResult, in_domain: bool, verdict: str) -> dict:
    """The ``compounds`` row of a compound whose slabs are cut."""
    comp = cand.structure.composition
    return {
        "compound_id": cand.compound_id, "formula": cand.formula, "reduced_formula": comp.reduced_formula,
        "chemsys": comp.chemical_system, "X_element": cand.X_element, "X_category": cand.X_category,
        "source": cand.source, "n_atoms_bulk": cand.n_atoms, "Mg_fraction": cand.Mg_fraction,
        "spacegroup_symbol": res.spacegroup_symbol, "spacegroup_number": res.spacegroup_number,
        "n_miller": res.n_miller, "n_slabs": len(res.slabs),
        "n_slabs_lost": sum(e["stage"] == "slabs" and "termination" in e["reason"] for e in res.errors),
        "compound_in_domain": in_domain, "domain_reason": verdict,
    }


def slab_table_row(slab: dict, structure_json: str) -> dict:
    """The ``slabs`` row of a slab row from the slab stage (arrays replaced by pymatgen JSON)."""
    return {k: v for k, v in slab.items() if k not in STRUCTURE_KEYS} | {"structure_json": structure_json}


def prediction_row(slab: dict, prediction: dict) -> dict:
    """The ``predictions`` row of a slab: its identity and the model's row (``slab_id`` keyed)."""
    return {**{k: slab[k] for k in PREDICTION_KEYS}, **prediction}


def mark_facet_minima(rows: list[dict], best: Sequence[Facet]) -> None:
    """Set ``is_facet_minimum`` on each prediction row: is it its facet's lowest-energy slab?"""
    best_ids = {f.slab_id for f in best}
    for row in rows:
        row["is_facet_minimum"] = row["slab_id"] in best_ids


def facet_rows(compound_id: str, best: Sequence[Facet], fractions: Sequence[float]) -> list[dict]:
    """The ``facets`` rows of a compound: each facet's lowest-energy slab and its Wulff area."""
    return [{
        "compound_id": compound_id, "miller_h": f.miller[0], "miller_k": f.miller[1], "miller_l": f.miller[2],
        "miller_index": miller_label(f.miller), "slab_id": f.slab_id,
        "surface_energy_eV_per_A2": f.surface_energy_eV_per_A2,
        "surface_energy_J_per_m2": f.surface_energy_eV_per_A2 * EV_PER_A2_TO_J_PER_M2,
        "work_function_eV": f.work_function_eV, "area_fraction": a, "on_wulff_shape": a > 0,
    } for f, a in zip(best, fractions, strict=True)]


def wulff_row(cand: Candidate, best: Sequence[Facet], shape: WulffResult | None, in_domain: bool, verdict: str,
              model_id: str) -> dict:
    """The ``wulff`` row of a compound; NaN values and no dominant facet without a shape."""
    row = {"compound_id": cand.compound_id, "formula": cand.formula, "n_facets": len(best), "n_facets_on_shape": 0,
           "compound_in_domain": in_domain, "domain_reason": verdict, "model_id": model_id}
    row.update(dict.fromkeys(WULFF_VALUES, math.nan), dominant_facet="")
    if shape is not None:
        fractions = shape.area_fractions
        top = int(np.argmax(fractions))
        row.update(
            n_facets_on_shape=sum(a > 0 for a in fractions),
            weighted_surface_energy_eV_per_A2=shape.weighted_surface_energy_eV_per_A2,
            weighted_surface_energy_J_per_m2=shape.weighted_surface_energy_J_per_m2,
            weighted_work_function_eV=shape.weighted_work_function_eV, shape_factor=shape.shape_factor,
            anisotropy=shape.anisotropy, dominant_facet=miller_label(best[top].miller),
            dominant_area_fraction=fractions[top])
    return row
