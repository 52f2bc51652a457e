"""The one check that a structure can become a crystal graph, used by every reader (user files,
shipped datasets, screening candidates, the featurizer)."""

from __future__ import annotations

PARTIAL_OCCUPANCY = "partially occupied sites: a crystal graph needs one element per site (give an ordered cell)"


class InvalidStructureError(ValueError):
    """A structure no crystal graph can take; the message is one line naming the reason."""


def structure_problem(structure) -> str | None:
    """Why a pymatgen structure cannot be featurized (no sites, partial occupancy), or ``None``."""
    if len(structure) == 0:
        return "structure has no sites"
    if not structure.is_ordered:
        return PARTIAL_OCCUPANCY
    return None


def check_structure(structure, name: str = "") -> None:
    """Raise :class:`InvalidStructureError` if :func:`structure_problem` finds one
    (the message starts with ``name:`` when a name is given)."""
    problem = structure_problem(structure)
    if problem:
        raise InvalidStructureError(f"{name}: {problem}" if name else problem)
