"""Are the two surfaces of a slab equivalent? pymatgen's ``Slab.is_symmetric`` answer, cheaper.

pymatgen runs spglib twice (through ``SpacegroupAnalyzer``) per question. A symmetry that swaps
the two surfaces maps heights along the normal z -> 2c - z, so the per-species height profile
must be palindromic; spglib is called (once) only when that cheap necessary condition holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.geometry import heights_along_normal

from .config import ANGLE_TOLERANCE, SlabConfig

if TYPE_CHECKING:
    from pymatgen.core import Structure

LAUE_GROUPS = frozenset({"-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m", "6/m", "6/mmm", "m-3", "m-3m"})


def could_be_symmetric(frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray, tol: float) -> bool:
    """Necessary condition for equivalent surfaces: per species, heights palindromic within ``tol``.

    A symmetry swapping the two surfaces maps heights z -> 2c - z (c: slab centre).
    """
    z, _ = heights_along_normal(lattice, frac)
    centre2 = z.min() + z.max()
    for zn in np.unique(numbers):
        zs = np.sort(z[numbers == zn])
        if np.max(np.abs(zs + zs[::-1] - centre2)) > tol:
            return False
    return True


def is_symmetric_arrays(
    frac: np.ndarray,
    numbers: np.ndarray,
    lattice: np.ndarray,
    symprec: float,
    angle_tolerance: float = ANGLE_TOLERANCE,
) -> bool:
    """:func:`is_symmetric` on arrays (fractional coordinates, atomic numbers, lattice rows in Å)."""
    if not could_be_symmetric(frac, numbers, lattice, tol=4 * symprec):
        return False
    import spglib

    ds = spglib.get_symmetry_dataset(
        (lattice, frac, numbers), symprec=symprec, angle_tolerance=angle_tolerance
    )
    if ds is None:
        return False
    if ds.pointgroup.strip() in LAUE_GROUPS:
        return True
    return bool(np.any(np.all(ds.rotations[:, 2, :] == np.array([0, 0, -1]), axis=1)))


def is_symmetric(
    struct: Structure, symprec: float = SlabConfig.slab_symprec, angle_tolerance: float = ANGLE_TOLERANCE
) -> bool:
    """Same answer as pymatgen's ``Slab.is_symmetric(symprec)``, with one spglib call (``struct``:
    the slab; ``symprec`` and ``angle_tolerance``: spglib's tolerances, Å and degrees).

    A centrosymmetric point group, or an operation flipping the normal (row ``[0, 0, -1]`` of a
    fractional rotation), makes the two surfaces equivalent. A cheap height test comes first.
    """
    numbers = np.array([site.specie.Z for site in struct], dtype=np.int32)
    return is_symmetric_arrays(struct.frac_coords, numbers, struct.lattice.matrix, symprec, angle_tolerance)
