"""How stable a candidate bulk is: its estimated energy above the convex hull, eV/atom.

The bundled candidates (the 210 Materials Project Mg–X binaries of ``mg_binary_bulk``) come from
MP's elasticity subset, which carries no hull data and holds hypothetical and unstable polymorphs.
For them the distance to the hull is estimated from the SevenNet 7net-0 single-point energies
shipped in ``datasets/mp_bulk_mg_binaries_and_elements/mlip_7net0_energies.parquet`` (the MP-PBE
relaxed cells as shipped, not relaxed again; see that folder's ``PROVENANCE.md``): one pymatgen
``PhaseDiagram`` per chemical system from the 7net-0 energies of that system's bundled bulks and its
lowest-energy elemental references, and ``get_e_above_hull`` of the compound's own entry. The
lowest phase of a composition on the hull is 0 by construction; every other polymorph of that
formula is above it.

A ``--source mp`` candidate carries the Materials Project's own ``energy_above_hull`` (source
:data:`MATERIALS_PROJECT`). A user's structure file has no shipped energy: NaN and an empty source,
with the reason in :class:`Stability`.

Above :data:`UNSTABLE_EV_PER_ATOM` a compound is flagged in the ``wulff`` table's ``trust``
(:data:`UNSTABLE`), so the rankings, which take trusted rows only, drop it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import pandas as pd

from semcgcnn.datasets.registry import DATASETS

from .candidates import Candidate

UNSTABLE_EV_PER_ATOM = 0.1
"""Estimated eV/atom above the hull beyond which a compound is taken as an unstable polymorph:
about twice the usual 0.05 eV/atom metastability window of Materials Project screens, to allow for
7net-0's error on formation energies against PBE (tens of meV/atom) on unrelaxed cells."""
UNSTABLE = (
    f"estimated more than {UNSTABLE_EV_PER_ATOM} eV/atom above the convex hull: likely an unstable polymorph"
)
"""The ``trust`` reason of a compound above :data:`UNSTABLE_EV_PER_ATOM` (its value and source are
the ``e_above_hull_eV_per_atom`` and ``e_above_hull_source`` columns)."""
ESTIMATE = "7net-0 estimate"
MATERIALS_PROJECT = "Materials Project"  # MP's own energy_above_hull (``--source mp``)
ENERGIES = DATASETS["mg_binary_bulk"].path / "mlip_7net0_energies.parquet"
"""7net-0 total energies (eV) of the 210 bundled bulks (``kind`` bulk, ``id`` the MP id) and the
88 lowest-energy MP-PBE elemental references (``kind`` element, ``id`` the symbol)."""


@dataclass(frozen=True)
class Stability:
    """A compound's energy above the hull (eV/atom; NaN when unknown), where it comes from
    (:data:`ESTIMATE`, :data:`MATERIALS_PROJECT` or "" when unknown) and why it is unknown ("")."""

    e_above_hull_eV_per_atom: float
    source: str
    reason: str = ""

    @property
    def unstable(self) -> bool:
        """Above :data:`UNSTABLE_EV_PER_ATOM` (never for an unknown value)."""
        return is_unstable(self.e_above_hull_eV_per_atom)


def is_unstable(e_above_hull_eV_per_atom: float) -> bool:
    """Is an energy above the hull (eV/atom) beyond :data:`UNSTABLE_EV_PER_ATOM`? NaN: no."""
    return bool(e_above_hull_eV_per_atom > UNSTABLE_EV_PER_ATOM)


@functools.cache
def energies() -> pd.DataFrame:
    """The shipped 7net-0 energies (:data:`ENERGIES`)."""
    return pd.read_parquet(ENERGIES)


def _elements(formula: str) -> frozenset[str]:
    from pymatgen.core import Composition

    return frozenset(e.symbol for e in Composition(formula).elements)


@functools.cache
def bundled_estimates() -> dict[str, Stability]:
    """The estimate of every bundled bulk by its MP id (one phase diagram per chemical system)."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    e = energies()
    refs = {r.id: r for r in e[e.kind == "element"].itertuples()}
    bulks = e[e.kind == "bulk"]
    systems: dict[frozenset[str], list] = {}
    for r in bulks.itertuples():
        systems.setdefault(_elements(r.formula), []).append(r)
    out = {}
    for elements, members in systems.items():
        missing = sorted(elements - set(refs))
        bad = [r for r in members if not math.isfinite(r.energy_eV)]
        if missing or bad:
            why = f"no 7net-0 energy of {', '.join(missing) or ', '.join(r.id for r in bad)}"
            out |= {r.id: Stability(math.nan, "", why) for r in members}
            continue
        terminal = [PDEntry(Composition(refs[s].formula), refs[s].energy_eV, name=s) for s in elements]
        own = {r.id: PDEntry(Composition(r.formula), r.energy_eV, name=r.id) for r in members}
        diagram = PhaseDiagram(terminal + list(own.values()))
        out |= {sid: Stability(float(diagram.get_e_above_hull(e)), ESTIMATE) for sid, e in own.items()}
    return out


def stability(cand: Candidate) -> Stability:
    """The energy above the hull of a screen candidate: the 7net-0 estimate of a bundled compound,
    the Materials Project's own value of an MP candidate, else NaN with the reason (a file's
    structure)."""
    if cand.source == "bundled":
        est = bundled_estimates().get(cand.compound_id)
        if est is None:
            return Stability(math.nan, "", f"{cand.compound_id}: no shipped 7net-0 energy")
        return est
    if cand.source == "mp":
        if math.isfinite(cand.e_above_hull_eV_per_atom):
            return Stability(cand.e_above_hull_eV_per_atom, MATERIALS_PROJECT)
        return Stability(math.nan, "", f"{cand.compound_id}: the Materials Project gave no energy_above_hull")
    return Stability(math.nan, "", "a structure file: no shipped 7net-0 energy")


def stability_columns(cand: Candidate) -> dict:
    """The two columns of the ``compounds`` and ``wulff`` rows."""
    s = stability(cand)
    return {"e_above_hull_eV_per_atom": s.e_above_hull_eV_per_atom, "e_above_hull_source": s.source}
