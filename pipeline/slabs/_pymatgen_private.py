"""Every use of pymatgen's private (underscore) API and every monkeypatch of pymatgen, in one place.

Checked against pymatgen 2026.10.24 (``pip show pymatgen``); the tests compare the results with
pymatgen's own (``tests/pipeline/slabs/test_slabs.py``), so a pymatgen change that breaks one of these
shows there. If one breaks, the public fallback is named in its comment (slower, same answer).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Composition, Structure
    from pymatgen.core.surface import SlabGenerator

# ----------------------------------------------------------------------------- SlabGenerator


def projected_height(gen: SlabGenerator) -> float:
    """Height (Å) of the generator's oriented unit cell along the slab normal (``gen``: the
    generator of one Miller index).

    ``SlabGenerator._proj_height`` (set in ``__init__``) is the height pymatgen itself stacks
    oriented cells by in ``get_slab``; choosing the number of cells needs exactly that value.
    Public fallback: recompute it as pymatgen does from ``gen.oriented_unit_cell.lattice``.
    """
    return gen._proj_height


def cache_oriented_cell_primitive(ouc: Structure) -> None:
    """Make ``ouc.get_primitive_structure`` (the oriented unit cell of one Miller index) memoised.

    pymatgen's ``SlabGenerator.get_slab`` calls it once per termination with a ``constrain_latt``
    that depends only on the slab's a, b and angles, so the answer repeats for every termination
    of one Miller index. No public hook exists: we replace the method on this one instance (a
    monkeypatch, flagged by the private attribute ``_semcgcnn_cached``). Each call gets a copy,
    as pymatgen would return a fresh structure. Public fallback: do nothing (slower).
    """
    if getattr(ouc, "_semcgcnn_cached", False):
        return
    original, cache = ouc.get_primitive_structure, {}

    def cached(
        tolerance: float = 0.25,
        use_site_props: bool = False,
        constrain_latt: list | dict | None = None,
        reduce: bool = True,
    ) -> Structure:
        key = (
            tolerance,
            use_site_props,
            reduce,
            tuple(sorted((k, round(float(v), 8)) for k, v in (constrain_latt or {}).items())),
        )
        if key not in cache:
            cache[key] = original(
                tolerance=tolerance,
                use_site_props=use_site_props,
                constrain_latt=constrain_latt,
                reduce=reduce,
            )
        return cache[key].copy()

    ouc.get_primitive_structure = cached
    ouc._semcgcnn_cached = True


@contextlib.contextmanager
def fast_primitive() -> Iterator[None]:
    """Within the block, ``Structure.get_primitive_structure`` is the vectorised copy in
    :mod:`.primitive` (same algorithm and result, no per-site KD-trees).

    pymatgen's ``SlabGenerator.get_slab`` calls the method on structures it builds itself, so the
    class attribute is swapped (a monkeypatch, process-wide while the block runs) and restored on
    exit. Public fallback: do not enter the block (several times slower).
    """
    from pymatgen.core import Structure

    from .primitive import get_primitive_structure

    original = Structure.get_primitive_structure
    Structure.get_primitive_structure = get_primitive_structure
    try:
        yield
    finally:
        Structure.get_primitive_structure = original


# ----------------------------------------------------------------------------- StructureMatcher


def composition_hash(matcher: StructureMatcher, composition: Composition) -> Composition:
    """The matcher's comparator hash of a composition (``matcher._comparator.get_hash``): what
    ``StructureMatcher.group_structures`` buckets structures by before fitting, so that our
    grouping forms the same buckets. Public fallback: ``group_structures`` itself.

    ``matcher``: the grouping's matcher; ``composition``: one slab's composition.
    """
    return matcher._comparator.get_hash(composition)


def reduced_for_fit(matcher: StructureMatcher, structure: Structure) -> Structure:
    """The structure as ``StructureMatcher.fit`` prepares it (species processed, Niggli-reduced),
    for ``fit(..., skip_structure_reduction=True)`` (``matcher``: the grouping's matcher;
    ``structure``: one slab).

    ``group_structures`` reduces every structure up front with the private ``_process_species``
    and ``_get_reduced_structure``; our grouping reduces only the structures a fit really needs,
    with the same calls and arguments (``primitive_cell=False`` as configured). Public fallback:
    ``matcher.group_structures``.
    """
    s = matcher._process_species([structure])[0]
    return matcher._get_reduced_structure(s, False, niggli=True)
