"""Which atoms a slab relaxation moves (paper §2.1: atoms more than 3 Å from either surface stay
at their bulk positions), as pymatgen's ``selective_dynamics`` site property, which VASP's POSCAR,
ASE's ``FixAtoms`` (through pymatgen's ``AseAtomsAdaptor``) and the GPAW runner all honour."""

from __future__ import annotations

import numpy as np

FREE_DEPTH_A = 3.0  # atoms within this depth of either surface relax; deeper ones are fixed


def free_atoms(structure, depth_A: float = FREE_DEPTH_A) -> np.ndarray:
    """Boolean mask: atoms within ``depth_A`` of either surface (along the a×b normal)."""
    from semcgcnn.geometry import heights_along_normal

    z, _ = heights_along_normal(np.asarray(structure.lattice.matrix), np.asarray(structure.frac_coords))
    return (z <= z.min() + depth_A + 1e-6) | (z >= z.max() - depth_A - 1e-6)


def with_fixed_interior(structure, depth_A: float = FREE_DEPTH_A):
    """A copy of the slab whose ``selective_dynamics`` frees only atoms within ``depth_A`` of a surface."""
    free = free_atoms(structure, depth_A)
    out = structure.copy()
    out.add_site_property("selective_dynamics", [[bool(f)] * 3 for f in free])
    return out
