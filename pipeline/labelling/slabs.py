"""Which atoms a slab relaxation moves (paper §2.1: atoms more than 3 Å from either surface stay
at their bulk positions), as pymatgen's ``selective_dynamics`` site property, which VASP's POSCAR,
ASE's ``FixAtoms`` (through pymatgen's ``AseAtomsAdaptor``) and the GPAW runner all honour."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from semcgcnn.pipeline.slabs import SlabConfig

FREE_DEPTH_A = 3.0  # atoms within this depth of either surface relax; deeper ones are fixed


def free_atoms(structure: Structure, depth_A: float = FREE_DEPTH_A) -> np.ndarray:
    """Boolean mask: atoms of the slab ``structure`` within ``depth_A`` of either surface (along
    the a×b normal)."""
    from semcgcnn.geometry import heights_along_normal

    z, _ = heights_along_normal(np.asarray(structure.lattice.matrix), np.asarray(structure.frac_coords))
    return (z <= z.min() + depth_A + 1e-6) | (z >= z.max() - depth_A - 1e-6)


def with_fixed_interior(structure: Structure, depth_A: float = FREE_DEPTH_A) -> Structure:
    """A copy of the slab ``structure`` whose ``selective_dynamics`` frees only atoms within
    ``depth_A`` of a surface."""
    free = free_atoms(structure, depth_A)
    out = structure.copy()
    out.add_site_property("selective_dynamics", [[bool(f)] * 3 for f in free])
    return out


def miller_indices(
    bulk_conventional: Structure, miller: tuple[int, int, int] | None, max_index: int
) -> list[tuple[int, int, int]]:
    """The facets to label: ``miller`` alone, or every symmetrically distinct index up to
    ``max_index`` of ``bulk_conventional`` (the conventional standard cell of the bulk)."""
    if miller is not None:
        return [tuple(int(x) for x in miller)]
    from pymatgen.core.surface import get_symmetrically_distinct_miller_indices

    return [
        tuple(int(x) for x in m)
        for m in get_symmetrically_distinct_miller_indices(bulk_conventional, max_index)
    ]


def label_slabs(
    bulk: Structure,
    bulk_id: str,
    millers: list[tuple[int, int, int]] | None = None,
    max_index: int = 1,
    cfg: SlabConfig | None = None,
) -> tuple[list[tuple[dict, object]], list[dict]]:
    """Every termination of the facets to label, as the screen's slab stage cuts them (symmetric
    where possible): ``[(row, slab)]`` with the screen's slab row (``slab_id`` is the label's
    ``structure_id``), and error rows for terminations the slab stage could not build.

    ``bulk``: the bulk structure; ``bulk_id``: the id the rows carry; ``millers``: the facets
    (default: every distinct index up to ``max_index``); ``cfg``: how slabs are cut (default:
    the screen's).
    """
    from semcgcnn.pipeline.slabs import SlabConfig, conventional_cell, slab_row, slabs_for_miller

    cfg = cfg or SlabConfig()
    conv, _, _ = conventional_cell(bulk, cfg.bulk_symprec)
    formula = conv.composition.reduced_formula
    out, errors = [], []
    for m in millers or miller_indices(conv, None, max_index):
        slabs, errs = slabs_for_miller(conv, m, cfg)
        errors.extend({**e, "id": bulk_id} for e in errs)
        out.extend((slab_row(s, bulk_id, formula, i), s) for i, s in enumerate(slabs))
    return out, errors
