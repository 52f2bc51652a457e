"""The table row of a slab (plain values and the structure as arrays), the structure of a row, and
a slab's thickness."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.geometry import face_area, heights_along_normal

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymatgen.core.surface import Slab


def thickness_A(slab: Structure) -> float:
    """Extent of the atoms along the surface normal (Å).

    Args:
        slab: a pymatgen ``Slab`` or ``Structure`` whose surface is the ab plane of its cell.
    """
    z, _ = heights_along_normal(slab.lattice.matrix, slab.frac_coords)
    return float(z.max() - z.min())


def slab_row(slab: Slab, compound_id: str, bulk_reduced_formula: str, termination: int) -> dict:
    """One plain row describing a slab (plain values and lists: JSON-serialisable).

    Args:
        slab: the pymatgen ``Slab`` (its ``target_thickness`` and ``asymmetry_note`` are read when set).
        compound_id: the bulk compound's id, the start of the row's ``slab_id``.
        bulk_reduced_formula: the bulk's reduced formula, to tell whether the slab is stoichiometric.
        termination: the index of the slab's termination among its facet's, the end of ``slab_id``.
    """
    h, k, miller_l = (int(x) for x in slab.miller_index)
    area = face_area(slab.lattice.matrix)
    cell_height = float(slab.volume / area)
    thickness = thickness_A(slab)
    return {
        "slab_id": f"{compound_id}_{h}_{k}_{miller_l}_t{termination}",
        "compound_id": compound_id,
        "miller_h": h,
        "miller_k": k,
        "miller_l": miller_l,
        "miller_index": f"({h} {k} {miller_l})",
        "shift_frac": float(slab.shift),
        "termination_index": termination,
        "n_atoms": len(slab),
        "formula": slab.composition.reduced_formula,
        "stoichiometric": slab.composition.reduced_formula == bulk_reduced_formula,
        "slab_thickness_A": thickness,
        "vacuum_A": cell_height - thickness,
        "surface_area_A2": area,
        "min_slab_size_A": float(getattr(slab, "target_thickness", math.nan)),
        "symmetric": not getattr(slab, "asymmetry_note", ""),
        "asymmetry_note": getattr(slab, "asymmetry_note", ""),
        # the structure as plain lists, so a row is JSON as it is (jobflow stores job outputs as JSON)
        "lattice": np.asarray(slab.lattice.matrix, dtype=np.float64).tolist(),
        "atomic_numbers": [int(z) for z in slab.atomic_numbers],
        "frac_coords": np.asarray(slab.frac_coords, dtype=np.float64).tolist(),
    }


def slab_structure(row: dict) -> Structure:
    """The pymatgen ``Structure`` of a slab row (:func:`slab_row`): its cell, atoms and fractional
    coordinates.

    Args:
        row: a slab row, or any mapping with its ``lattice``, ``atomic_numbers`` and ``frac_coords``.
    """
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(row["lattice"]), list(row["atomic_numbers"]), row["frac_coords"])
