"""pymatgen's ``Structure.get_primitive_structure`` with its candidate-translation filter vectorised.

The algorithm, its tolerances and its result are pymatgen's (pymatgen/core/structure.py,
MIT licence, © Pymatgen Development Team); only the first filter differs in form. pymatgen
builds a periodic KD-tree per site to keep the translations that map every site onto a site of
the same species; on slabs of 50–200 atoms that is most of the time spent cutting slabs. Here
the same test (per-axis periodic distance below twice the fractional tolerance) is one NumPy
comparison per site. When only the null translation survives, no smaller cell exists and the
structure is returned as pymatgen does (a copy).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import PeriodicSite, Structure


def translation_candidates(groups: list[np.ndarray], ftol2: np.ndarray) -> np.ndarray:
    """Differences to the first site of the smallest species group that map every site onto a
    site of its own species within ``ftol2`` (fractional, per axis, periodic)."""
    smallest = min(groups, key=len)
    vecs = smallest - smallest[0]
    for group in sorted(groups, key=len):
        for fc in group:
            d = vecs[:, None, :] - (group - fc)[None, :, :]
            d -= np.round(d)
            vecs = vecs[np.any(np.all(np.abs(d) < ftol2, axis=-1), axis=1)]
    return vecs


def _hnf(form_units: int):
    """pymatgen's supercell matrices (Hermite normal form) per determinant."""
    for det in (i for i in range(1, form_units + 1) if form_units % i == 0):
        if det == 1:
            continue
        for a in (i for i in range(1, det + 1) if det % i == 0):
            for e in (i for i in range(1, det // a + 1) if (det // a) % i == 0):
                g = det // a // e
                yield (
                    det,
                    np.array(
                        [
                            [[a, b, c], [0, e, f], [0, 0, g]]
                            for b, c, f in itertools.product(range(a), range(a), range(e))
                        ]
                    ),
                )


def _site_label(site: PeriodicSite, use_site_props: bool) -> str:
    if not use_site_props:
        return site.species_string
    parts = [site.species_string]
    parts.extend(f"{key}={site.properties[key]}" for key in sorted(site.properties))
    return ", ".join(parts)


def _non_neighbours(gf_coords: np.ndarray, super_ftol: np.ndarray) -> np.ndarray:
    """Pairs of one species group farther apart than twice the tolerance (and the diagonal)."""
    fdist = gf_coords[None, :, :] - gf_coords[:, None, :]
    fdist -= np.round(fdist)
    np.abs(fdist, fdist)
    non_nbrs = np.any(fdist > 2 * super_ftol[None, None, :], axis=-1)
    np.fill_diagonal(non_nbrs, val=True)
    return non_nbrs


def _supercell_matrices(num_fu: int, min_vecs: np.ndarray, super_ftol: np.ndarray):
    """``(size, inv_m, latt_mat)`` of the candidate cells, in pymatgen's order: those whose
    lattice vectors are all among the candidate translations."""
    for size, ms in _hnf(num_fu):
        inv_ms = np.linalg.inv(ms)
        dist = inv_ms[:, :, None, :] - min_vecs[None, None, :, :]
        dist -= np.round(dist)
        np.abs(dist, dist)
        inds = np.all(np.any(np.all(dist < super_ftol, axis=-1), axis=-1), axis=-1)
        for inv_m, latt_mat in zip(inv_ms[inds], ms[inds], strict=True):
            yield size, inv_m, latt_mat


def _site_groups(
    gf_coords: np.ndarray, non_nbrs: np.ndarray, latt_mat: np.ndarray, ftol: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Sites of one species group merged by the candidate cell (rows: groups), or None if the
    cell does not map every site onto exactly ``size`` images."""
    all_frac = np.dot(gf_coords, latt_mat)
    fdist = all_frac[None, :, :] - all_frac[:, None, :]
    fdist = np.abs(fdist - np.round(fdist))
    close_in_prim = np.all(fdist < ftol[None, None, :], axis=-1)
    groups = np.logical_and(close_in_prim, non_nbrs)
    if not np.all(np.sum(groups, axis=0) == size):
        return None
    for group in groups:
        if not np.all(groups[group][:, group]):
            return None
    return all_frac, groups


def _merge_sites(
    gsites: list[PeriodicSite],
    all_frac: np.ndarray,
    groups: np.ndarray,
    out: tuple[list, list, defaultdict[str, list], list],
) -> None:
    """Append one averaged site per group to ``out`` = (coords, species, properties, labels)."""
    new_coords, new_sp, new_props, new_labels = out
    added = np.zeros(len(gsites))
    new_frac_coords = all_frac % 1
    for grp_idx, group in enumerate(groups):
        if not added[grp_idx]:
            added[group] = True
            idx = np.where(group)[0]
            coords = new_frac_coords[idx[0]]
            for inner_idx, ind in enumerate(idx[1:]):
                offset = new_frac_coords[ind] - coords
                coords += (offset - np.round(offset)) / (inner_idx + 2)
            new_sp.append(gsites[idx[0]].species)
            for k in gsites[idx[0]].properties:
                new_props[k].append(gsites[idx[0]].properties[k])
            new_labels.append(gsites[idx[0]].label)
            new_coords.append(coords)


def _smaller_cell(
    self: Structure,
    grouped: list[tuple[list[PeriodicSite], np.ndarray, np.ndarray]],
    inv_m: np.ndarray,
    latt_mat: np.ndarray,
    size: int,
    tolerance: float,
) -> Structure | None:
    """The structure in the candidate cell ``latt_mat``, or None if the sites do not fit it."""
    from pymatgen.core import Lattice, Structure

    new_m = np.dot(inv_m, self.lattice.matrix)
    ftol = np.divide(tolerance, np.sqrt(np.sum(new_m**2, axis=1)))
    out = ([], [], defaultdict(list), [])
    for gsites, gf_coords, non_nbrs in grouped:
        merged = _site_groups(gf_coords, non_nbrs, latt_mat, ftol, size)
        if merged is None:
            return None
        _merge_sites(gsites, *merged, out)
    new_coords, new_sp, new_props, new_labels = out
    new_latt = Lattice(np.dot(np.linalg.inv(latt_mat), self.lattice.matrix))
    return Structure(
        new_latt, new_sp, new_coords, site_properties=new_props, labels=new_labels, coords_are_cartesian=False
    )


def _accepts(self: Structure, primitive: Structure, constrain_latt: list | dict) -> bool:
    """pymatgen's check of the reduced cell against ``constrain_latt``."""
    if not constrain_latt:
        return True
    prim_latt, self_latt = primitive.lattice, self.lattice
    keys = tuple(constrain_latt)
    is_dict = isinstance(constrain_latt, dict)
    return np.allclose(
        [getattr(prim_latt, key) for key in keys],
        [constrain_latt[key] if is_dict else getattr(self_latt, key) for key in keys],
    )


def get_primitive_structure(
    self: Structure,
    tolerance: float = 0.25,
    use_site_props: bool = False,
    constrain_latt: list | dict | None = None,
    reduce: bool = True,
) -> Structure:
    """Drop-in for ``Structure.get_primitive_structure`` (same arguments, same result).

    ``self``: the structure (the function is installed as the method); ``tolerance``: the site
    tolerance (Å); ``use_site_props``: whether sites with different properties are distinct;
    ``constrain_latt``: lattice parameters the primitive cell must keep (names, or names with
    values); ``reduce``: whether to return the reduced primitive cell.
    """
    if tolerance <= 0:
        raise ValueError("tolerance cannot be <=0 for Structure.get_primitive_structure()!")
    if constrain_latt is None:
        constrain_latt = []

    def label(site: PeriodicSite) -> str:
        return _site_label(site, use_site_props)

    sites = sorted(self.sites, key=label)  # public alias of pymatgen's self._sites (same list)
    grouped_sites = [list(grp) for _, grp in itertools.groupby(sites, key=label)]
    grouped_frac_coords = [np.array([s.frac_coords for s in g]) for g in grouped_sites]
    super_ftol = np.divide(tolerance, self.lattice.abc)
    min_vecs = translation_candidates(grouped_frac_coords, super_ftol * 2)
    if np.all(np.abs(min_vecs - np.round(min_vecs)) < super_ftol):
        return self.copy()  # only the null translation: pymatgen finds no cell and returns a copy

    grouped = list(
        zip(
            grouped_sites,
            grouped_frac_coords,
            [_non_neighbours(gf, super_ftol) for gf in grouped_frac_coords],
            strict=True,
        )
    )
    num_fu = functools.reduce(math.gcd, map(len, grouped_sites))
    for size, inv_m, latt_mat in _supercell_matrices(num_fu, min_vecs, super_ftol):
        struct = _smaller_cell(self, grouped, inv_m, latt_mat, size, tolerance)
        if struct is None:
            continue
        primitive = struct.get_primitive_structure(
            tolerance=tolerance, use_site_props=use_site_props, constrain_latt=constrain_latt, reduce=reduce
        )
        if reduce:
            primitive = primitive.get_reduced_structure()
        if _accepts(self, primitive, constrain_latt):
            return primitive
    return self.copy()
