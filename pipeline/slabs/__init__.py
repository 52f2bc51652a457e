"""Symmetric slabs of every distinct low-index facet and termination of a bulk crystal.

The slabs are those of pymatgen's ``generate_all_slabs(max_index, min_slab, min_vac,
center_slab=True, symmetrize=True)`` on the conventional standard cell, computed faster by
replacing three costly pieces of pymatgen's ``SlabGenerator`` with equivalent cheap ones:

* ``center_slab`` asks for the neighbours of every site (``get_neighbors``) only to test a
  condition that cannot hold for a slab with vacuum (a neighbour farther than ``c``); it then
  moves the centre of mass to z = 0.5. We do that translation directly (about half the time).
* ``Slab.is_symmetric`` runs spglib twice through ``SpacegroupAnalyzer`` after *every* site
  removal of the symmetrisation loop. A symmetry that swaps the two surfaces maps heights along
  the normal z -> 2c - z, so the per-species height profile must be palindromic; we call spglib
  (once, not twice) only when that cheap necessary condition holds.
* ``SlabGenerator.__init__`` runs a symmetry analysis of the bulk per Miller index to tag
  sites; we tag the conventional cell once per compound.

Terminations that pymatgen's symmetrisation loses ("Too many sites removed") are retried with
thicker slabs; those still lost are rebuilt with the same atomic plane on both faces (the bulk
stacked above the termination, whole planes dropped from the top until a bulk operation that
reverses the normal maps the bottom face onto the top one: ``FastSlabGenerator.mirrored_slab``),
numbered after the other terminations of their Miller index. Those left are terminations of a
polar direction (no bulk operation reverses it), returned as error rows saying so.

Modules: :mod:`.config` (settings, result), :mod:`.symmetry` (surface equivalence),
:mod:`.matching` (distinct terminations), :mod:`.generator` (the fast ``SlabGenerator``),
:mod:`.compound` (one compound end to end), :mod:`.rows` (table rows), :mod:`.primitive`
(vectorised primitive cell) and :mod:`._pymatgen_private` (every use of pymatgen internals).
Importing this package does not import pymatgen; :class:`FastSlabGenerator` is loaded on first use.
"""

from __future__ import annotations

from .compound import compound_slabs, conventional_cell, slabs_for_miller
from .config import SlabConfig, SlabResult
from .matching import group_slabs
from .rows import slab_row, slab_structure, thickness_A
from .symmetry import LAUE_GROUPS, could_be_symmetric, is_symmetric, is_symmetric_arrays

__all__ = [
    "LAUE_GROUPS",
    "FastSlabGenerator",
    "SlabConfig",
    "SlabResult",
    "compound_slabs",
    "conventional_cell",
    "could_be_symmetric",
    "group_slabs",
    "is_symmetric",
    "is_symmetric_arrays",
    "slab_row",
    "slab_structure",
    "slabs_for_miller",
    "thickness_A",
]


def __getattr__(name: str):
    if name == "FastSlabGenerator":  # lazy: importing it imports pymatgen's surface module
        from .generator import FastSlabGenerator

        return FastSlabGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
