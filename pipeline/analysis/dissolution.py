"""Equilibrium potential of the anodic dissolution of a compound (paper Fig. 6b), from the shipped
aqueous-ion free energies (``datasets/reference_tables/aqueous_ion_formation_energies.csv``,
GalvCalc's ``ion_energy.yaml``: ΔG_f° of each aqueous species in eV) and a formation energy of the
compound.

For a compound with n_el atoms of each element el (per formula unit), each element dissolves as
one mononuclear aqueous species S_el (one atom of el, plus O and H) with charge q:

    el + w H2O → S_el + h H⁺ + z e⁻,   w = n_O(S), h = 2 w − n_H(S), z = q + h

so the whole reaction is  compound + Σ n_el w_el H2O → Σ n_el S_el + Σ n_el h_el H⁺ + Z e⁻ with
Z = Σ n_el z_el. With electrons at the SHE (H⁺ standard state: ΔG_f = 0, H₂ gas: 0),

    ΔG(E) = Σ n_el [ΔG_f°(S_el) + kT ln c − h_el · kT ln10 · pH − w_el ΔG_f°(H2O)] − ΔG_f(compound) − Z e E

and the equilibrium potential, ΔG(E) = 0, is  E = {Σ n_el [...] − ΔG_f(compound)} / Z  (V vs SHE).
For pure Mg (ΔG_f = 0, Mg²⁺): E = E° + (kT/2) ln c = −2.357 − 0.177 = −2.534 V at c = 10⁻⁶ mol/L.

Which species: for each element, among its mononuclear aqueous species in the shipped table in
which it is oxidised (z > 0), the one with the lowest equilibrium potential for dissolving the pure
element under the same conditions: the first dissolved species met on raising the potential from
the element's own domain (Pourbaix's construction without the solid oxides and hydroxides, which
the table does not hold). At pH 7 that is Mg²⁺ for Mg, an oxyanion or a neutral oxoacid for Si,
Ge, As, S, Se, Te, P, ... An element with no such species in the table gives NaN with its reason.
ΔG_f of the compound is approximated by its formation energy at 0 K (entropy neglected), as is usual.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from pymatgen.core import Composition

log = logging.getLogger(__name__)

KT_EV = 8.617333262e-5 * 298.15
"""k_B T at 298.15 K, eV."""
LN10 = math.log(10.0)
DG_F_H2O_EV = -237.129 / 96.485332
"""ΔG_f° of liquid water, eV per molecule (−237.129 kJ/mol; Wagman et al., NBS tables 1982)."""
ION_TABLE = "aqueous_ion_formation_energies.csv"
SOURCES = ("auto", "mp", "shipped", "mlip")


@dataclass(frozen=True)
class Conditions:
    """The solution the compound dissolves into (paper: neutral, 10⁻⁶ mol/L of each dissolved species)."""

    pH: float = 7.0
    concentration_mol_per_L: float = 1e-6
    temperature_K: float = 298.15

    def describe(self) -> str:
        return f"pH {self.pH:g}, {self.concentration_mol_per_L:g} mol/L, {self.temperature_K:g} K"


DEFAULT_CONDITIONS = Conditions()


@dataclass(frozen=True)
class Species:
    """A mononuclear aqueous species of one element: counts of O and H, charge, ΔG_f° (eV)."""

    name: str
    element: str
    n_O: int
    n_H: int
    charge: int
    dg_f_eV: float
    activity_from_pH: bool = False  # H⁺: its activity is 10^-pH, not the dissolved-ion concentration

    @property
    def water(self) -> int:
        """H2O consumed per element atom."""
        return self.n_O

    @property
    def protons(self) -> int:
        """H⁺ released per element atom."""
        return 2 * self.n_O - self.n_H

    @property
    def electrons(self) -> int:
        """e⁻ released per element atom (its oxidation state in the species)."""
        return self.charge + self.protons

    def free_energy_eV(self, cond: Conditions) -> float:
        """ΔG of ``el + w H2O → S + h H⁺`` at the conditions (electrons not counted), eV."""
        kt = KT_EV * cond.temperature_K / 298.15
        ln_a = -LN10 * cond.pH if self.activity_from_pH else math.log(cond.concentration_mol_per_L)
        return self.dg_f_eV + kt * ln_a - self.protons * kt * LN10 * cond.pH - self.water * DG_F_H2O_EV

    def element_potential_V(self, cond: Conditions) -> float:
        """Equilibrium potential of dissolving the pure element as this species, V vs SHE."""
        return self.free_energy_eV(cond) / self.electrons

    def half_reaction(self) -> str:
        left = f"{self.element}" + (f" + {self.water} H2O" if self.water else "")
        right = [self.name] + ([f"{self.protons} H+"] if self.protons else []) + [f"{self.electrons} e-"]
        return f"{left} → {' + '.join(right)}"


PROTON = Species("H[+]", "H", 0, 0, 1, 0.0, activity_from_pH=True)  # n_H: H besides the element atom
"""H⁺, not in the table: ΔG_f° = 0 by the SHE convention; a hydride's H dissolves as H⁺ at the pH."""

_CHARGE = re.compile(r"\[(\d*)([+-])\]$")


def parse_species(name: str) -> tuple[dict[str, int], int] | None:
    """(element counts, charge) of an aqueous species name such as ``Al(OH)4[-]``, ``Mg[2+]`` or
    ``H2SiO3(aq)``; None for a solid (``(s)``) or a name without a charge or ``(aq)`` marker."""
    from pymatgen.core import Composition

    name = name.strip()
    m = _CHARGE.search(name)
    if m:
        core, charge = name[: m.start()], int(m.group(1) or 1) * (1 if m.group(2) == "+" else -1)
    elif name.replace(" ", "").endswith("(aq)"):
        core, charge = name.replace(" ", "")[:-4], 0
    else:
        return None
    try:
        comp = Composition(core.replace(" ", ""))
    except (ValueError, KeyError):
        return None
    return {el.symbol: int(round(n)) for el, n in comp.items()}, charge


@functools.lru_cache(maxsize=1)
def ion_table() -> tuple[Species, ...]:
    """The shipped table's mononuclear aqueous species (one atom of one element other than O/H,
    or of O/H alone)."""
    from semcgcnn.datasets.registry import REFERENCE_TABLES

    df = pd.read_csv(REFERENCE_TABLES / ION_TABLE)
    out = []
    for name, dg in zip(df["ion"], df["energy_eV"], strict=True):
        parsed = parse_species(str(name))
        if parsed is None:
            continue
        counts, charge = parsed
        heavy = {el: n for el, n in counts.items() if el not in ("O", "H")}
        if len(heavy) != 1 or next(iter(heavy.values())) != 1:
            continue
        (el,) = heavy
        out.append(Species(str(name).strip(), el, counts.get("O", 0), counts.get("H", 0), charge, float(dg)))
    return (*out, PROTON)


def dissolved_species(element: str, cond: Conditions = DEFAULT_CONDITIONS) -> Species | None:
    """The species ``element`` dissolves as (see the module text), or None when the table has no
    species of it in which it is oxidised."""
    cands = [s for s in ion_table() if s.element == element and s.electrons > 0]
    if not cands:
        return None
    return min(cands, key=lambda s: (s.element_potential_V(cond), s.name))


@dataclass(frozen=True)
class Dissolution:
    """The result for one compound (per formula unit of its reduced formula)."""

    reduced_formula: str
    equilibrium_potential_V_SHE: float
    electrons_per_formula_unit: float
    reaction: str
    species: str
    reason: str = ""


def equilibrium_potential(
    composition: Composition | str, formation_energy_eV_per_atom: float, cond: Conditions = DEFAULT_CONDITIONS
) -> Dissolution:
    """E (V vs SHE) of the anodic dissolution of ``composition`` (a pymatgen Composition or a
    formula) with the formation energy ``formation_energy_eV_per_atom``, under the aqueous
    conditions ``cond``; NaN with a reason where it cannot be computed."""
    from pymatgen.core import Composition

    comp = Composition(composition)
    formula = comp.reduced_formula
    units = comp.get_reduced_composition_and_factor()[0]
    if not math.isfinite(formation_energy_eV_per_atom):
        return Dissolution(formula, math.nan, math.nan, "", "", "no formation energy")
    picked, missing = {}, []
    for el in units:
        s = dissolved_species(el.symbol, cond)
        (missing.append(el.symbol) if s is None else picked.__setitem__(el.symbol, s))
    if missing:
        return Dissolution(
            formula,
            math.nan,
            math.nan,
            "",
            "",
            f"no aqueous species of {', '.join(missing)} with it oxidised in the shipped ion table",
        )
    n = {el.symbol: float(x) for el, x in units.items()}
    dg_f = formation_energy_eV_per_atom * units.num_atoms
    z = sum(n[el] * s.electrons for el, s in picked.items())
    ions = sum(n[el] * s.free_energy_eV(cond) for el, s in picked.items())
    return Dissolution(
        formula, (ions - dg_f) / z, z, _reaction(units, picked), ", ".join(s.name for s in picked.values())
    )


def _reaction(units: Composition, picked: Mapping[str, Species]) -> str:
    def term(k: float, what: str) -> str:
        return what if abs(k - 1) < 1e-9 else f"{k:g} {what}"

    n = {el.symbol: float(x) for el, x in units.items()}
    water = sum(n[el] * s.water for el, s in picked.items())
    protons = sum(n[el] * s.protons for el, s in picked.items())
    electrons = sum(n[el] * s.electrons for el, s in picked.items())
    left = (
        [units.reduced_formula]
        + ([term(water, "H2O")] if water else [])
        + ([term(-protons, "H+")] if protons < 0 else [])
    )
    right = [term(n[el], s.name) for el, s in picked.items()]
    right += ([term(protons, "H+")] if protons > 0 else []) + [term(electrons, "e-")]
    return f"{' + '.join(left)} → {' + '.join(right)}"
