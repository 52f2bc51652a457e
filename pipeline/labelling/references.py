"""Reference structures and input checks for labelling.

* :func:`elemental_reference`: the elemental ground state that fixes μ of the rich element for a
  non-stoichiometric slab (:mod:`.surface`): hcp Mg for Mg (the convention of the Mg-alloy
  surface literature; the shipped Materials Project set's lowest-energy Mg entry is an fcc cell
  0.009 eV/atom below hcp), the lowest-energy Materials Project polymorph for other elements.
* :func:`check_bulk`: a one-line :class:`~.calc.LabelError` for a structure that cannot be a bulk.
"""

from __future__ import annotations

import functools

from .calc import LabelError


@functools.lru_cache(maxsize=None)
def elemental_reference(symbol: str):
    """The elemental reference structure of ``symbol`` from the shipped ``elemental_refs`` set."""
    from semcgcnn.datasets import load

    recs = [r for r in load("elemental_refs") if r.meta["element"] == symbol]
    if symbol == "Mg":
        recs = sorted((r for r in recs if r.structure.get_space_group_info()[1] == 194), key=lambda r: len(r.structure))
    else:
        recs = [r for r in recs if r.meta["is_lowest_energy"]]
    if not recs:
        raise LabelError(f"no elemental reference structure for {symbol} in the shipped elemental_refs set")
    return recs[0].structure.copy()


def check_bulk(structure, name: str = "input") -> None:
    """One-line :class:`LabelError` unless ``structure`` can be a bulk crystal to label: ordered,
    a proper cell, no overlapping atoms, and no vacuum gap (a slab given as the bulk)."""
    from semcgcnn.validation import bulk_problem, overlap_problem, structure_problem

    problem = structure_problem(structure) or overlap_problem(structure) or bulk_problem(structure)
    if problem:
        raise LabelError(f"{name}: {problem}")
