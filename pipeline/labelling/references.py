"""Reference structures and input checks for labelling.

* :func:`elemental_reference`: an element's reference structure from the shipped Materials Project
  set ``elemental_refs``, by one of two rules (:data:`REFERENCE_RULES`):

  - ``"hcp_mg"`` (:data:`HCP_MG`, the labels' rule): hcp Mg for Mg, the convention of the Mg-alloy
    surface literature, and the lowest-energy polymorph for every other element. It fixes μ of
    the rich element for a non-stoichiometric slab (:mod:`.surface`).
  - ``"lowest_energy"`` (:data:`LOWEST_ENERGY`, the ML-potential single points: the screen's prior
    and the formation energies): the lowest-energy polymorph for every element.

  The two differ for Mg only: the set's lowest-energy Mg entry is a one-atom fcc cell 0.009 eV/atom
  below hcp in MP-PBE (7net-0: 0.5 meV/atom below); every other element gets the same structure.
* :func:`check_bulk`: a one-line :class:`~.calc.LabelError` for a structure that cannot be a bulk.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from .calc import LabelError

if TYPE_CHECKING:
    from pymatgen.core import Structure


HCP_MG = "hcp_mg"
LOWEST_ENERGY = "lowest_energy"
REFERENCE_RULES = (HCP_MG, LOWEST_ENERGY)


@functools.cache
def _references(rule: str) -> dict:
    """``{element: structure}`` of the shipped ``elemental_refs`` set by ``rule``."""
    from semcgcnn.datasets import load

    recs = load("elemental_refs")
    refs = {r.meta["element"]: r.structure for r in recs if r.meta["is_lowest_energy"]}
    if rule == HCP_MG:  # the smallest hcp (P6_3/mmc) cell of Mg
        mg = [r for r in recs if r.meta["element"] == "Mg"]
        hcp = sorted(
            (r for r in mg if r.structure.get_space_group_info()[1] == 194), key=lambda r: len(r.structure)
        )
        if hcp:
            refs["Mg"] = hcp[0].structure
        else:
            refs.pop("Mg", None)
    return refs


def elemental_reference(symbol: str, rule: str = HCP_MG) -> Structure:
    """The reference structure of element ``symbol`` (a copy) from the shipped ``elemental_refs`` set.

    Parameters
    ----------
    symbol
        The element, e.g. ``"Mg"``.
    rule
        :data:`HCP_MG` (hcp Mg, the lowest-energy polymorph of every other element: the labels'
        rich-limit reference) or :data:`LOWEST_ENERGY` (the lowest-energy polymorph of every
        element: the ML-potential single points); see the module note.

    Raises
    ------
    LabelError
        An unknown rule, or no reference of ``symbol`` in the set.
    """
    if rule not in REFERENCE_RULES:
        raise LabelError(f"unknown elemental reference rule {rule!r}: choose {', '.join(REFERENCE_RULES)}")
    structure = _references(rule).get(symbol)
    if structure is None:
        raise LabelError(f"no elemental reference structure for {symbol} in the shipped elemental_refs set")
    return structure.copy()


def reference_elements() -> frozenset[str]:
    """The elements with a shipped reference structure (the same under either rule)."""
    return frozenset(_references(LOWEST_ENERGY))


def check_bulk(structure: Structure, name: str = "input") -> None:
    """One-line :class:`LabelError` unless ``structure`` can be a bulk crystal to label: ordered,
    a proper cell, no overlapping atoms, and no vacuum gap (a slab given as the bulk). ``name``:
    what the message calls the structure."""
    from semcgcnn.validation import bulk_problem, overlap_problem, structure_problem

    problem = structure_problem(structure) or overlap_problem(structure) or bulk_problem(structure)
    if problem:
        raise LabelError(f"{name}: {problem}")
