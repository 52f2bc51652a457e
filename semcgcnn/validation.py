"""The one check that a structure can become a crystal graph, used by every reader (user files,
shipped datasets, screening candidates, the featurizer), and the one overlapping-atoms check."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.errors import UserError

if TYPE_CHECKING:
    from pymatgen.core import Structure

PARTIAL_OCCUPANCY = (
    "partially occupied sites: a crystal graph needs one element per site (give an ordered cell)"
)
MIN_DISTANCE_A = 0.5
"""Atoms closer than this (Å, periodic images included) are overlapping: no real structure has them."""
MIN_VOLUME_A3 = 1e-3
"""A cell with less volume (Å³) is degenerate: zero or coplanar lattice vectors."""
MIN_CELL_SHAPE = 1e-3
"""A cell whose volume is a smaller fraction of a·b·c is degenerate, however long its vectors: that
fraction is the volume of the cell with unit vectors along a, b, c (1 for a right-angled cell)."""
BULK_MAX_GAP_A = 5.0
"""A bulk crystal has no empty gap this wide (Å) along any lattice direction; a slab's vacuum does."""
MIN_SLAB_SPAN_A = 1.0
"""A slab whose atoms all lie closer than this (Å) to one plane parallel to its surface has fewer
than two atomic layers: no slab of a real crystal (interlayer spacings of 1.2 Å and more)."""


class InvalidStructureError(UserError):
    """A structure no crystal graph can take; the message is one line naming the reason."""


def overlapping(distance: float, who: str = "two sites") -> str:
    """The one wording of an overlapping-atoms problem (the featurizer's check uses it too)."""
    return f"overlapping atoms: {who} {distance:.3f} Å apart (closer than {MIN_DISTANCE_A} Å)"


def structure_problem(structure: Structure) -> str | None:
    """Why the pymatgen ``structure`` cannot be featurized (no sites, partial occupancy, non-finite
    numbers, a degenerate cell), or ``None``. Cheap: no distances (see :func:`overlap_problem`),
    and nothing that can crash on a bad number (spglib, neighbour searches) runs before it."""
    from pymatgen.core import DummySpecies

    if len(structure) == 0:
        return "structure has no sites"
    if not structure.is_ordered:
        return PARTIAL_OCCUPANCY
    unknown = sorted({sp.symbol for sp in structure.composition if isinstance(sp, DummySpecies)})
    if unknown:
        return f"unknown element symbol(s): {', '.join(unknown)} (give element symbols such as Mg, Al)"
    return cell_problem(
        np.asarray(structure.lattice.matrix, dtype=float),
        np.asarray(structure.frac_coords, dtype=float),
        structure,
    )


def _numbers(values: Iterable[float]) -> str:
    return ", ".join(f"{x:g}" for x in values)


def cell_problem(lattice: np.ndarray, frac: np.ndarray, structure: Structure | None = None) -> str | None:
    """Why a cell (lattice rows, Å) with these fractional coordinates cannot be a crystal: a
    non-finite number, or a degenerate cell (too little volume, or lattice vectors (almost)
    coplanar); ``None`` if it can. ``structure`` (optional) names the species of a bad site."""
    if not np.isfinite(lattice).all():
        bad = int(np.flatnonzero(~np.isfinite(lattice).all(axis=1))[0])
        return f"non-finite lattice: vector {'abc'[bad]} = ({_numbers(lattice[bad])}) Å"
    if not np.isfinite(frac).all():
        i = int(np.flatnonzero(~np.isfinite(frac).all(axis=1))[0])
        who = f"site {i} ({structure[i].species_string})" if structure is not None else f"site {i}"
        return f"non-finite coordinates: {who} at fractional ({_numbers(frac[i])})"
    lengths = np.linalg.norm(lattice, axis=1)
    volume = abs(float(np.linalg.det(lattice)))
    abc = _numbers(lengths)
    if volume < MIN_VOLUME_A3:
        return f"degenerate cell: volume {volume:g} Å³ (lattice vectors zero or coplanar; a, b, c = {abc} Å)"
    shape = volume / float(np.prod(lengths))
    if shape < MIN_CELL_SHAPE:
        return (
            f"degenerate cell: lattice vectors almost coplanar (volume {volume:g} Å³ is {shape:.1e} of "
            f"a·b·c; a, b, c = {abc} Å)"
        )
    return None


def slab_layers_problem(heights: np.ndarray) -> str | None:
    """``"fewer than two atomic layers: ..."`` if every atom of a slab lies within
    :data:`MIN_SLAB_SPAN_A` of one plane parallel to its surface (``heights``: Å along the surface
    normal, unwrapped), else ``None``."""
    span = float(np.ptp(heights)) if len(heights) else 0.0
    if span >= MIN_SLAB_SPAN_A:
        return None
    n = len(heights)
    return (
        f"fewer than two atomic layers: {n} atom{'s' if n != 1 else ''} within {span:.2f} Å of one plane "
        f"along the surface normal (a slab needs two layers {MIN_SLAB_SPAN_A:g} Å or more apart)"
    )


def largest_empty_gap_A(structure: Structure) -> tuple[float, int]:
    """The widest empty gap (Å, perpendicular to the other two lattice vectors) of ``structure``
    along any lattice direction, and that direction (0, 1, 2)."""
    from .geometry import largest_gap

    m = np.asarray(structure.lattice.matrix)
    best = (0.0, 2)
    for axis in range(3):
        a, b = [m[i] for i in range(3) if i != axis]
        n = np.cross(a, b)
        height = abs(float(m[axis] @ n)) / float(np.linalg.norm(n))
        _, gap = largest_gap(np.asarray(structure.frac_coords)[:, axis] % 1.0)
        best = max(best, (float(gap) * height, axis))
    return best


def bulk_problem(structure: Structure) -> str | None:
    """``"not a bulk crystal: ..."`` if ``structure`` has an empty gap wider than
    :data:`BULK_MAX_GAP_A` along a lattice direction (a slab or a molecule given as a bulk), else
    ``None``. Call it after :func:`structure_problem` found nothing."""
    gap, axis = largest_empty_gap_A(structure)
    if gap > BULK_MAX_GAP_A:
        return (
            f"not a bulk crystal: an empty gap of {gap:.1f} Å along lattice vector {'abc'[axis]} "
            "(a slab or molecule?); give the bulk structure, sem-cgcnn cuts the slabs"
        )
    return None


def overlap_problem(structure: Structure) -> str | None:
    """``"overlapping atoms: ..."`` naming the closest pair if two sites of ``structure`` (or a site
    and a periodic image) are closer than :data:`MIN_DISTANCE_A`, else ``None``. A neighbour list,
    linear in the number of sites (no N×N matrix); call it after :func:`structure_problem` found
    nothing."""
    centers, points, _, dists = structure.get_neighbor_list(MIN_DISTANCE_A)
    if len(dists) == 0:
        return None
    k = int(dists.argmin())
    i, j = sorted((int(centers[k]), int(points[k])))
    who = (
        f"site {i} ({structure[i].species_string}) and its periodic image"
        if i == j
        else f"sites {i} ({structure[i].species_string}) and {j} ({structure[j].species_string})"
    )
    return overlapping(float(dists[k]), who)


def check_structure(structure: Structure, name: str = "") -> None:
    """Raise :class:`InvalidStructureError` if :func:`structure_problem` finds one in ``structure``
    (the message starts with ``name:`` when a name is given)."""
    problem = structure_problem(structure)
    if problem:
        raise InvalidStructureError(f"{name}: {problem}" if name else problem)
