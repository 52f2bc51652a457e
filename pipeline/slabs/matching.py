"""Distinct terminations: pymatgen's ``StructureMatcher`` grouping, with fits that a height
invariant rules out skipped."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.geometry import heights_along_normal, normal_height

from . import _pymatgen_private as private

if TYPE_CHECKING:
    from pymatgen.core.surface import Slab

HeightProfile = tuple[float, float, dict[int, np.ndarray]]  # what :func:`height_profile` returns


def height_profile(slab: Slab) -> HeightProfile:
    """Cell height, longest in-plane vector and per-species sorted heights about the centroid of
    ``slab``."""
    lattice = slab.lattice.matrix
    z, _ = heights_along_normal(lattice, slab.frac_coords)
    z = z - z.mean()
    numbers = np.asarray(slab.atomic_numbers)
    in_plane = float(max(np.linalg.norm(lattice[0]), np.linalg.norm(lattice[1])))
    return normal_height(lattice), in_plane, {int(n): np.sort(z[numbers == n]) for n in np.unique(numbers)}


def may_match(p1: HeightProfile, p2: HeightProfile, max_dist: float) -> bool:
    """False only when StructureMatcher cannot match the two slabs (profiles from :func:`height_profile`).

    ``fit`` accepts a mapping when every site, after removing the mean displacement (the
    centroid shift), moves by less than ``max_dist`` = stol·(V/n)^⅓. Heights along the normal
    survive any admissible lattice mapping between two cells of the same height (in-plane
    vectors much shorter than the height), up to a flip, so the per-species sorted heights
    about the centroid must then agree within ``max_dist`` for one of the two orientations.
    """
    (h1, a1, z1), (h2, a2, z2) = p1, p2
    if abs(h1 - h2) > 1e-6 * h1 or 1.25 * max(a1, a2) > h1:
        return True  # not comparable cheaply: let StructureMatcher decide
    if z1.keys() != z2.keys() or any(len(z1[k]) != len(z2[k]) for k in z1):
        return False  # fit needs the same number of sites of each species
    bound = 1.05 * max_dist + 1e-6
    if all(np.max(np.abs(z1[k] - z2[k])) <= bound for k in z1):
        return True
    return all(np.max(np.abs(z1[k] + z2[k][::-1])) <= bound for k in z1)


class _Fitter:
    """Pairwise ``StructureMatcher.fit`` on lazily reduced structures, pruned by :func:`may_match`."""

    def __init__(self, slabs: list, tol: float):
        from pymatgen.analysis.structure_matcher import StructureMatcher

        self.slabs, self.tol = slabs, tol
        self.matcher = StructureMatcher(ltol=tol, stol=tol, primitive_cell=False, scale=False)
        self.hashes = [private.composition_hash(self.matcher, s.composition) for s in slabs]
        self.profiles = [height_profile(s) for s in slabs]
        self.reduced: dict[int, object] = {}

    def _red(self, i: int):
        if i not in self.reduced:
            self.reduced[i] = private.reduced_for_fit(self.matcher, self.slabs[i])
        return self.reduced[i]

    def fits(self, r: int, i: int) -> bool:
        """Does slab ``i`` match the group reference ``r``?"""
        if self.hashes[r] != self.hashes[i]:
            return False
        s = self.slabs[i]
        max_dist = self.tol * (max(self.slabs[r].volume, s.volume) / len(s)) ** (1 / 3)
        return may_match(self.profiles[r], self.profiles[i], max_dist) and self.matcher.fit(
            self._red(r), self._red(i), skip_structure_reduction=True
        )


def group_slabs(slabs: list, tol: float) -> list[list]:
    """pymatgen's ``StructureMatcher(ltol=tol, stol=tol, primitive_cell=False, scale=False)
    .group_structures(slabs)``, skipping fits that a height invariant rules out.

    Same groups as pymatgen (each structure joins the group of the first earlier reference
    that fits it); structures are reduced only when a fit is really needed.
    """
    if len(slabs) < 2:
        return [list(slabs)] if slabs else []
    fitter = _Fitter(slabs, tol)
    groups: list[list[int]] = []
    for i in range(len(slabs)):
        for g in groups:
            if fitter.fits(g[0], i):
                g.append(i)
                break
        else:
            groups.append([i])
    return [[slabs[i] for i in g] for g in groups]


def matches_any(slab: Slab, others: list, tol: float) -> bool:
    """Would :func:`group_slabs` put ``slab`` (listed after ``others``) into an existing group,
    i.e. does one of ``others`` fit it? Only ``slab`` is compared, not ``others`` pairwise
    (``tol``: the ``StructureMatcher`` ltol and stol)."""
    if not others:
        return False
    fitter = _Fitter([*others, slab], tol)
    return any(fitter.fits(r, len(others)) for r in range(len(others)))
