"""Table rows of the screen, one function per table: plain dicts whose keys are the columns of
:data:`semcgcnn.schema.SCHEMAS` (units in the names)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from semcgcnn.pipeline.slabs import SlabResult
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

from .candidates import Candidate
from .compound_class import compound_class
from .stability import UNSTABLE, is_unstable, stability_columns
from .wulff import Facet, WulffResult, miller_label

STRUCTURE_KEYS = ("lattice", "atomic_numbers", "frac_coords")
"""Keys of a slab row that hold the structure as arrays (the table stores pymatgen JSON instead)."""
PREDICTION_KEYS = (
    "slab_id",
    "compound_id",
    "miller_h",
    "miller_k",
    "miller_l",
    "miller_index",
    "termination_index",
)
"""Slab-row keys repeated on its prediction row."""
TRUSTED = "trusted"
"""The ``trust`` of a Wulff row that passes every check of :func:`wulff_trust`."""
MIN_FACETS_ON_SHAPE = 2
"""Facet families a trusted Wulff shape needs: one family alone rests the weighted values on a
single predicted facet, with nothing to average."""
NO_SHAPE = "no Wulff shape"
COMPOUND_OUT = "compound out of domain"
DOMINANT_OUT = "dominant facet out of domain"
DOMINANT_ASYMMETRIC = "dominant facet from an asymmetric polar slab (γ the mean of two faces)"
FEW_FACETS = f"fewer than {MIN_FACETS_ON_SHAPE} facet families on the shape"
TRUST_REASONS = (
    NO_SHAPE,
    COMPOUND_OUT,
    DOMINANT_OUT,
    DOMINANT_ASYMMETRIC,
    FEW_FACETS,
    "weighted surface energy below the training labels' range",
    "weighted surface energy above the training labels' range",
    "weighted work function below the training labels' range",
    "weighted work function above the training labels' range",
    UNSTABLE,
)
"""Every reason :func:`wulff_trust` can give, in its order; ``trust`` joins those that apply with "; "."""
WULFF_VALUES = (
    "weighted_surface_energy_eV_per_A2",
    "weighted_surface_energy_J_per_m2",
    "weighted_work_function_eV",
    "weighted_surface_energy_eV_per_A2_std",
    "weighted_surface_energy_J_per_m2_std",
    "weighted_work_function_eV_std",
    "shape_factor",
    "anisotropy",
    "dominant_area_fraction",
)


def compound_row(cand: Candidate, res: SlabResult, in_domain: bool, verdict: str) -> dict:
    """The ``compounds`` row of a compound whose slabs are cut."""
    comp = cand.structure.composition
    return {
        "compound_id": cand.compound_id,
        "formula": cand.formula,
        "reduced_formula": comp.reduced_formula,
        "chemsys": comp.chemical_system,
        "X_element": cand.X_element,
        "X_category": cand.X_category,
        "compound_class": compound_class(cand.X_element),
        "source": cand.source,
        "n_atoms_bulk": cand.n_atoms,
        "Mg_fraction": cand.Mg_fraction,
        "spacegroup_symbol": res.spacegroup_symbol,
        "spacegroup_number": res.spacegroup_number,
        "n_miller": res.n_miller,
        "n_slabs": len(res.slabs),
        "n_slabs_lost": sum(e["stage"] == "slabs" and "termination" in e["reason"] for e in res.errors),
        "n_slabs_asymmetric": sum(not s.get("symmetric", True) for s in res.slabs),
        "compound_in_domain": in_domain,
        "domain_reason": verdict,
        **stability_columns(cand),
    }


def slab_table_row(slab: dict, structure_json: str) -> dict:
    """The ``slabs`` row of a slab row from the slab stage (arrays replaced by pymatgen JSON)."""
    return {k: v for k, v in slab.items() if k not in STRUCTURE_KEYS} | {"structure_json": structure_json}


def prediction_row(slab: dict, prediction: dict) -> dict:
    """The ``predictions`` row of a slab: its identity and the model's row (``slab_id`` keyed)."""
    return {
        **{k: slab[k] for k in PREDICTION_KEYS},
        "symmetric_slab": slab.get("symmetric", True),
        **prediction,
    }


def mark_facet_minima(rows: list[dict], best: Sequence[Facet]) -> None:
    """Set ``is_facet_minimum`` on each prediction row: is it its facet's lowest-energy slab?"""
    best_ids = {f.slab_id for f in best}
    for row in rows:
        row["is_facet_minimum"] = row["slab_id"] in best_ids


def facet_rows(compound_id: str, best: Sequence[Facet], fractions: Sequence[float]) -> list[dict]:
    """The ``facets`` rows of a compound: each facet's lowest-energy slab and its Wulff area."""
    return [
        {
            "compound_id": compound_id,
            "miller_h": f.miller[0],
            "miller_k": f.miller[1],
            "miller_l": f.miller[2],
            "miller_index": miller_label(f.miller),
            "slab_id": f.slab_id,
            "from_symmetric_slab": f.symmetric,
            "surface_energy_eV_per_A2": f.surface_energy_eV_per_A2,
            "surface_energy_J_per_m2": f.surface_energy_eV_per_A2 * EV_PER_A2_TO_J_PER_M2,
            "work_function_eV": f.work_function_eV,
            "area_fraction": a,
            "on_wulff_shape": a > 0,
        }
        for f, a in zip(best, fractions, strict=True)
    ]


def label_range_side(value: float, bounds: tuple[float, float]) -> str:
    """Where ``value`` lies against the training labels' range: ``"below"``, ``"above"`` or
    ``"inside"`` (bounds included); ``"unknown"`` for NaN.

    Args:
        value: a weighted γ or Φ.
        bounds: ``(lo, hi)`` of :func:`semcgcnn.model.applicability.training_label_range`.
    """
    if value < bounds[0]:
        return "below"
    if value > bounds[1]:
        return "above"
    return "unknown" if math.isnan(value) else "inside"


def _range_reason(value: float, bounds: tuple[float, float], what: str) -> str | None:
    side = label_range_side(value, bounds)
    return f"weighted {what} {side} the training labels' range" if side in ("below", "above") else None


def wulff_trust(row: dict) -> str:
    """``"trusted"``, or why a Wulff row should not be ranked: its reasons from
    :data:`TRUST_REASONS` joined by "; ". Trusted means: a shape, the compound and its dominant
    facet's prediction in the model's domain and from a symmetric slab, at least
    :data:`MIN_FACETS_ON_SHAPE` facet families on the shape, and weighted γ and Φ inside the 1st–99th
    percentile of the training labels
    (:func:`semcgcnn.model.applicability.training_label_range`), and the bulk not known to lie more
    than :data:`~.stability.UNSTABLE_EV_PER_ATOM` above the convex hull (``e_above_hull_eV_per_atom``;
    NaN, unknown, is no reason)."""
    from semcgcnn.model.applicability import training_label_range

    unstable = UNSTABLE if is_unstable(row["e_above_hull_eV_per_atom"]) else None
    if not row["dominant_facet"]:
        reasons = [NO_SHAPE, COMPOUND_OUT if not row["compound_in_domain"] else None, unstable]
        return "; ".join(r for r in reasons if r)
    bounds = training_label_range()
    reasons = [
        COMPOUND_OUT if not row["compound_in_domain"] else None,
        DOMINANT_OUT if not row["dominant_facet_in_domain"] else None,
        DOMINANT_ASYMMETRIC if not row["dominant_facet_symmetric"] else None,
        FEW_FACETS if row["n_facets_on_shape"] < MIN_FACETS_ON_SHAPE else None,
        _range_reason(
            row["weighted_surface_energy_eV_per_A2"], bounds["surface_energy_eV_per_A2"], "surface energy"
        ),
        _range_reason(row["weighted_work_function_eV"], bounds["work_function_eV"], "work function"),
        unstable,
    ]
    reasons = [r for r in reasons if r]
    return "; ".join(reasons) if reasons else TRUSTED


def wulff_row(
    cand: Candidate,
    best: Sequence[Facet],
    shape: WulffResult | None,
    in_domain: bool,
    verdict: str,
    model_id: str,
    out_of_domain: dict[str, bool],
    weighted_std: tuple[float, float] = (math.nan, math.nan),
    spacegroup_symbol: str = "",
) -> dict:
    """The ``wulff`` row of a compound; NaN values and no dominant facet without a shape.

    ``out_of_domain``: each slab's prediction verdict, by ``slab_id`` (for the dominant facet's);
    ``weighted_std``: the weighted γ's (eV/Å²) and Φ's 1σ (:func:`~.wulff.weighted_spread`);
    ``spacegroup_symbol``: the bulk's, as in its ``compounds`` row.
    """
    from semcgcnn.model.applicability import training_label_range

    row = {
        "compound_id": cand.compound_id,
        "formula": cand.formula,
        "X_element": cand.X_element,
        "compound_class": compound_class(cand.X_element),
        "spacegroup_symbol": spacegroup_symbol,
        **stability_columns(cand),
        "n_facets": len(best),
        "n_facets_on_shape": 0,
        "n_asymmetric_facets_on_shape": 0,
        "dominant_facet_symmetric": True,
        "compound_in_domain": in_domain,
        "domain_reason": verdict,
        "model_id": model_id,
        "dominant_facet_in_domain": False,
        "weighted_surface_energy_in_label_range": False,
        "weighted_work_function_in_label_range": False,
    }
    row.update(dict.fromkeys(WULFF_VALUES, math.nan), dominant_facet="")
    if shape is not None:
        fractions = shape.area_fractions
        top = int(np.argmax(fractions))
        bounds = training_label_range()
        row.update(
            n_facets_on_shape=sum(a > 0 for a in fractions),
            n_asymmetric_facets_on_shape=sum(
                a > 0 and not f.symmetric for f, a in zip(best, fractions, strict=True)
            ),
            dominant_facet_symmetric=best[top].symmetric,
            weighted_surface_energy_eV_per_A2=shape.weighted_surface_energy_eV_per_A2,
            weighted_surface_energy_J_per_m2=shape.weighted_surface_energy_J_per_m2,
            weighted_work_function_eV=shape.weighted_work_function_eV,
            shape_factor=shape.shape_factor,
            weighted_surface_energy_eV_per_A2_std=weighted_std[0],
            weighted_surface_energy_J_per_m2_std=weighted_std[0] * EV_PER_A2_TO_J_PER_M2,
            weighted_work_function_eV_std=weighted_std[1],
            anisotropy=shape.anisotropy,
            dominant_facet=miller_label(best[top].miller),
            dominant_area_fraction=fractions[top],
            dominant_facet_in_domain=not out_of_domain[best[top].slab_id],
            weighted_surface_energy_in_label_range=label_range_side(
                shape.weighted_surface_energy_eV_per_A2, bounds["surface_energy_eV_per_A2"]
            )
            == "inside",
            weighted_work_function_in_label_range=label_range_side(
                shape.weighted_work_function_eV, bounds["work_function_eV"]
            )
            == "inside",
        )
    row["trust"] = wulff_trust(row)
    return row
