"""The one check that a structure can become a crystal graph, used by every reader (user files,
shipped datasets, screening candidates, the featurizer), and the one overlapping-atoms check."""

from __future__ import annotations

import math

from semcgcnn.errors import UserError

PARTIAL_OCCUPANCY = "partially occupied sites: a crystal graph needs one element per site (give an ordered cell)"
MIN_DISTANCE_A = 0.5
"""Atoms closer than this (Å, periodic images included) are overlapping: no real structure has them."""
MIN_VOLUME_A3 = 1e-3
"""A cell with less volume (Å³) is degenerate: zero or coplanar lattice vectors."""


class InvalidStructureError(UserError):
    """A structure no crystal graph can take; the message is one line naming the reason."""


def overlapping(distance: float, who: str = "two sites") -> str:
    """The one wording of an overlapping-atoms problem (the featurizer's check uses it too)."""
    return f"overlapping atoms: {who} {distance:.3f} Å apart (closer than {MIN_DISTANCE_A} Å)"


def structure_problem(structure) -> str | None:
    """Why a pymatgen structure cannot be featurized (no sites, partial occupancy, a degenerate
    cell), or ``None``. Cheap: no distances (see :func:`overlap_problem`)."""
    from pymatgen.core import DummySpecies

    if len(structure) == 0:
        return "structure has no sites"
    if not structure.is_ordered:
        return PARTIAL_OCCUPANCY
    unknown = sorted({sp.symbol for sp in structure.composition if isinstance(sp, DummySpecies)})
    if unknown:
        return f"unknown element symbol(s): {', '.join(unknown)} (give element symbols such as Mg, Al)"
    volume = float(structure.lattice.volume)
    if not math.isfinite(volume) or abs(volume) < MIN_VOLUME_A3:
        abc = ", ".join(f"{x:g}" for x in structure.lattice.abc)
        return f"degenerate cell: volume {volume:g} Å³ (lattice vectors zero or coplanar; a, b, c = {abc} Å)"
    return None


def overlap_problem(structure) -> str | None:
    """``"overlapping atoms: ..."`` naming the closest pair if two sites (or a site and a periodic
    image) are closer than :data:`MIN_DISTANCE_A`, else ``None``. A neighbour list, linear in the
    number of sites (no N×N matrix); call it after :func:`structure_problem` found nothing."""
    centers, points, _, dists = structure.get_neighbor_list(MIN_DISTANCE_A)
    if len(dists) == 0:
        return None
    k = int(dists.argmin())
    i, j = sorted((int(centers[k]), int(points[k])))
    who = f"site {i} ({structure[i].species_string}) and its periodic image" if i == j else \
        f"sites {i} ({structure[i].species_string}) and {j} ({structure[j].species_string})"
    return overlapping(float(dists[k]), who)


def check_structure(structure, name: str = "") -> None:
    """Raise :class:`InvalidStructureError` if :func:`structure_problem` finds one
    (the message starts with ``name:`` when a name is given)."""
    problem = structure_problem(structure)
    if problem:
        raise InvalidStructureError(f"{name}: {problem}" if name else problem)
