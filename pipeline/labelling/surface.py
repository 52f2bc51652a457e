"""Surface energy and work function from finished calculations (any backend).

Surface energy of a slab with two faces of area A each (a symmetric slab, or the mean of the two
faces of an asymmetric one)::

    γ = (E_slab − Σ_i n_i μ_i) / 2A

* **Stoichiometric slab** (its composition a multiple of the bulk's): the bulk reference,
  Σ_i n_i μ_i = (N_slab / N_bulk) E_bulk.
* **Non-stoichiometric slab of a binary compound**: the *rich limit* of one element R (``Mg`` for
  the Mg–X intermetallics: the Mg-rich limit): μ_R = E(R, its elemental ground state, same method)
  per atom, and μ_X from equilibrium with the bulk A_aX_b: a μ_R + b μ_X = E_bulk per formula unit.
  The convention and the chemical potentials are written in every output row.
* Other non-stoichiometric slabs need chemical potentials this module does not guess: a
  :class:`~.calc.LabelError` says so.

Work function: Φ = V_vac − E_F on each side of the slab, V_vac the plateau of the planar-averaged
electrostatic potential in the vacuum (see :func:`work_functions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.geometry import face_area

from .calc import CalcResult, LabelError

if TYPE_CHECKING:
    from pymatgen.core import Composition, Structure

BULK_REFERENCE = "stoichiometric slab: bulk reference, γ = (E_slab − N_slab/N_bulk · E_bulk) / 2A"


@dataclass(frozen=True)
class SurfaceEnergy:
    """γ of one slab and how its reference energies were chosen."""

    eV_per_A2: float
    convention: str
    chemical_potentials_eV: dict[str, float] = field(default_factory=dict)  # μ per atom of each element


def is_stoichiometric(slab_composition: Composition, bulk_composition: Composition) -> bool:
    """Is the slab's composition ``slab_composition`` a whole multiple of the bulk's reduced
    formula (``bulk_composition``)?"""
    return slab_composition.reduced_formula == bulk_composition.reduced_formula


def needs_rich_reference(slab_composition: Composition, bulk_composition: Composition) -> bool:
    """Does this slab's γ need an elemental reference calculation (non-stoichiometric slab)?
    ``slab_composition`` and ``bulk_composition``: as in :func:`is_stoichiometric`."""
    return not is_stoichiometric(slab_composition, bulk_composition)


def rich_element(bulk_composition: Composition, preferred: str = "Mg") -> str:
    """The element whose rich limit fixes the chemical potentials of a binary compound's
    (``bulk_composition``) non-stoichiometric slabs: ``preferred`` if the compound holds it. A one-line
    :class:`LabelError` when no convention applies (not a binary, or no ``preferred``)."""
    elements = sorted(el.symbol for el in bulk_composition.elements)
    if len(elements) != 2 or preferred not in elements:
        raise LabelError(
            f"a non-stoichiometric slab of {bulk_composition.reduced_formula} needs chemical potentials: "
            f"the {preferred}-rich convention applies to binaries holding {preferred} only"
        )
    return preferred


def surface_energy(
    slab: CalcResult, bulk: CalcResult, rich_reference: CalcResult | None = None, rich: str = "Mg"
) -> SurfaceEnergy:
    """γ (eV/Å²) of ``slab`` against ``bulk`` (and, for a non-stoichiometric slab of a binary,
    the elemental ground state ``rich_reference`` of element ``rich``)."""
    s, b = slab.pmg_structure(), bulk.pmg_structure()
    area2 = 2.0 * face_area(s.lattice.matrix)
    if is_stoichiometric(s.composition, b.composition):
        return SurfaceEnergy(
            (slab.energy_eV - slab.n_atoms / bulk.n_atoms * bulk.energy_eV) / area2, BULK_REFERENCE
        )
    r = rich_element(b.composition, rich)
    if rich_reference is None:
        raise LabelError(
            f"slab {s.composition.reduced_formula} of {b.composition.reduced_formula} is not "
            f"stoichiometric: its surface energy needs a {r} reference calculation"
        )
    ref = rich_reference.pmg_structure().composition
    if [el.symbol for el in ref.elements] != [r]:
        raise LabelError(f"the {r}-rich reference calculation holds {ref.reduced_formula}, not pure {r}")
    mu = {r: rich_reference.energy_per_atom_eV}
    comp = b.composition
    x = next(el.symbol for el in comp.elements if el.symbol != r)
    # a μ_R + b μ_X = E_bulk per formula unit, with (a, b) per bulk atom: μ_X = (E/N − c_R μ_R) / c_X
    mu[x] = (bulk.energy_per_atom_eV - comp.get_atomic_fraction(r) * mu[r]) / comp.get_atomic_fraction(x)
    counts = s.composition.get_el_amt_dict()
    gamma = (slab.energy_eV - sum(counts[el] * mu[el] for el in counts)) / area2
    convention = (
        f"{r}-rich limit: μ_{r} = E({r}, {ref.reduced_formula} ground state, same method) per atom; "
        f"μ_{x} from {comp.reduced_formula} bulk equilibrium; γ = (E_slab − Σ n_i μ_i) / 2A"
    )
    return SurfaceEnergy(gamma, convention, mu)


def work_functions(
    potential_z_eV: Sequence[float] | np.ndarray, fermi_eV: float, structure: Structure
) -> tuple[float, float]:
    """(bottom, top) work functions (eV) of a slab from the planar-averaged electrostatic potential
    along c (a uniform grid over fractional c in [0, 1)) and the Fermi level.

    ``potential_z_eV``: that potential, in eV; ``fermi_eV``: the Fermi level; ``structure``: the
    slab, whose atoms' fractional c coordinates locate the vacuum gap.

    The vacuum is the largest periodic gap between atoms along c. A dipole correction puts a step
    in the middle of that gap, so each side's vacuum level is the mean potential over the part of
    the gap 35–45 % of its length away from that side's outermost atoms: past the surface's own
    decay (≥ 5 Å for the usual ≥ 15 Å of vacuum) and short of the step."""
    from semcgcnn.geometry import largest_gap

    v = np.asarray(potential_z_eV, dtype=float)
    n = len(v)
    z = np.asarray(structure.frac_coords)[:, 2] % 1.0
    bottom, gap = largest_gap(z)  # bottom: lowest atom above the gap; the gap starts at bottom − gap
    grid = np.arange(n) / n

    def level(start: float, sign: int) -> float:
        lo, hi = sorted((start + sign * 0.35 * gap, start + sign * 0.45 * gap))
        sel = ((grid - lo) % 1.0) <= (hi - lo)
        if not sel.any():  # grid coarser than the window: nearest point
            sel = np.zeros(n, bool)
            sel[int(round(((lo + hi) / 2 % 1.0) * n)) % n] = True
        return float(v[sel].mean())

    top_atom = (bottom - gap) % 1.0
    return level(bottom, -1) - fermi_eV, level(top_atom, +1) - fermi_eV
