"""Wulff construction from per-slab surface energies: area-weighted surface energy and work function.

Per compound, each facet (Miller index) takes its lowest surface energy over the terminations,
and the work function of that same slab. pymatgen's ``WulffShape`` on the conventional lattice
gives each facet's area fraction f_i; the weighted values are Σγ_i·f_i and Σφ_i·f_i. Facets that
do not reach the equilibrium shape keep an area fraction of 0 and stay in the facet table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semcgcnn.datasets import EV_PER_A2_TO_J_PER_M2


@dataclass(frozen=True)
class Facet:
    """The lowest-energy slab of one Miller index."""

    miller: tuple[int, int, int]
    slab_id: str
    surface_energy_eV_per_A2: float
    work_function_eV: float


def lowest_per_facet(rows: Sequence[dict]) -> list[Facet]:
    """From slab rows (``miller_h/k/l``, ``slab_id``, surface energy, work function), the slab of
    lowest surface energy per Miller index, in first-seen Miller order. NaN energies are skipped."""
    best: dict[tuple[int, int, int], dict] = {}
    for r in rows:
        se = r["surface_energy_eV_per_A2"]
        if se is None or not math.isfinite(se):
            continue
        hkl = (int(r["miller_h"]), int(r["miller_k"]), int(r["miller_l"]))
        if hkl not in best or se < best[hkl]["surface_energy_eV_per_A2"]:
            best[hkl] = r
    return [Facet(hkl, r["slab_id"], float(r["surface_energy_eV_per_A2"]), float(r["work_function_eV"]))
            for hkl, r in best.items()]


@dataclass
class WulffResult:
    """Area fractions per facet (same order as the input facets) and the weighted values."""

    area_fractions: list[float]
    weighted_surface_energy_eV_per_A2: float
    weighted_work_function_eV: float
    shape_factor: float
    anisotropy: float

    @property
    def weighted_surface_energy_J_per_m2(self) -> float:
        return self.weighted_surface_energy_eV_per_A2 * EV_PER_A2_TO_J_PER_M2


def wulff(lattice, facets: Sequence[Facet]) -> WulffResult:
    """Wulff shape of ``facets`` on ``lattice`` (pymatgen ``Lattice`` or 3×3 matrix, conventional cell).

    Raises ``ValueError`` when pymatgen cannot build a closed shape from these facets.
    """
    from pymatgen.analysis.wulff import WulffShape
    from pymatgen.core import Lattice

    if not facets:
        raise ValueError("no facet with a finite surface energy")
    bad = [f.miller for f in facets if not f.surface_energy_eV_per_A2 > 0]
    if bad:  # a Wulff construction needs positive γ; the model can extrapolate below zero
        raise ValueError(f"predicted surface energy ≤ 0 (unphysical) for facet(s) {', '.join(map(str, bad))}")
    lattice = lattice if isinstance(lattice, Lattice) else Lattice(np.asarray(lattice, dtype=float))
    millers = [f.miller for f in facets]
    try:
        shape = WulffShape(lattice, millers, [f.surface_energy_eV_per_A2 for f in facets])
        fractions_by_hkl = shape.area_fraction_dict
        weighted_se = float(shape.weighted_surface_energy)
        shape_factor, anisotropy = float(shape.shape_factor), float(shape.anisotropy)
    except Exception as exc:  # noqa: BLE001 - qhull or degenerate shapes
        raise ValueError(f"pymatgen WulffShape failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                         ) from None
    fractions = [float(fractions_by_hkl.get(hkl, 0.0)) for hkl in millers]
    weighted_wf = float(sum(f.work_function_eV * a for f, a in zip(facets, fractions, strict=True)))
    return WulffResult(fractions, weighted_se, weighted_wf, shape_factor, anisotropy)


def compound_wulff(compound_id: str, lattice, facets: Sequence[Facet]) -> tuple[WulffResult | None, list[dict]]:
    """The Wulff shape of one compound, or ``None`` and an error row saying why there is none."""
    if not facets:
        return None, [{"stage": "wulff", "id": compound_id, "reason": "no slab with a predicted surface energy"}]
    if lattice is None:
        return None, []
    try:
        return wulff(lattice, facets), []
    except ValueError as exc:
        return None, [{"stage": "wulff", "id": compound_id, "reason": str(exc)}]
