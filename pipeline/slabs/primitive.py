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

import numpy as np


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
                yield det, np.array([[[a, b, c], [0, e, f], [0, 0, g]]
                                     for b, c, f in itertools.product(range(a), range(a), range(e))])


def get_primitive_structure(self, tolerance: float = 0.25, use_site_props: bool = False,
                            constrain_latt: list | dict | None = None, reduce: bool = True):
    """Drop-in for ``Structure.get_primitive_structure`` (same arguments, same result)."""
    from pymatgen.core import Lattice, Structure

    if tolerance <= 0:
        raise ValueError("tolerance cannot be <=0 for Structure.get_primitive_structure()!")
    if constrain_latt is None:
        constrain_latt = []

    def site_label(site):
        if not use_site_props:
            return site.species_string
        parts = [site.species_string]
        parts.extend(f"{key}={site.properties[key]}" for key in sorted(site.properties))
        return ", ".join(parts)

    sites = sorted(self.sites, key=site_label)  # public alias of pymatgen's self._sites (same list)
    grouped_sites = [list(grp) for _, grp in itertools.groupby(sites, key=site_label)]
    grouped_frac_coords = [np.array([s.frac_coords for s in g]) for g in grouped_sites]
    super_ftol = np.divide(tolerance, self.lattice.abc)
    min_vecs = translation_candidates(grouped_frac_coords, super_ftol * 2)
    if np.all(np.abs(min_vecs - np.round(min_vecs)) < super_ftol):
        return self.copy()  # only the null translation: pymatgen finds no cell and returns a copy

    grouped_non_nbrs = []
    for gf_coords in grouped_frac_coords:
        fdist = gf_coords[None, :, :] - gf_coords[:, None, :]
        fdist -= np.round(fdist)
        np.abs(fdist, fdist)
        non_nbrs = np.any(fdist > 2 * super_ftol[None, None, :], axis=-1)
        np.fill_diagonal(non_nbrs, val=True)
        grouped_non_nbrs.append(non_nbrs)

    num_fu = functools.reduce(math.gcd, map(len, grouped_sites))
    for size, ms in _hnf(num_fu):
        inv_ms = np.linalg.inv(ms)
        dist = inv_ms[:, :, None, :] - min_vecs[None, None, :, :]
        dist -= np.round(dist)
        np.abs(dist, dist)
        inds = np.all(np.any(np.all(dist < super_ftol, axis=-1), axis=-1), axis=-1)
        for inv_m, latt_mat in zip(inv_ms[inds], ms[inds], strict=True):
            new_m = np.dot(inv_m, self.lattice.matrix)
            ftol = np.divide(tolerance, np.sqrt(np.sum(new_m**2, axis=1)))
            valid = True
            new_coords, new_sp, new_props, new_labels = [], [], defaultdict(list), []
            for gsites, gf_coords, non_nbrs in zip(grouped_sites, grouped_frac_coords, grouped_non_nbrs,
                                                   strict=True):
                all_frac = np.dot(gf_coords, latt_mat)
                fdist = all_frac[None, :, :] - all_frac[:, None, :]
                fdist = np.abs(fdist - np.round(fdist))
                close_in_prim = np.all(fdist < ftol[None, None, :], axis=-1)
                groups = np.logical_and(close_in_prim, non_nbrs)
                if not np.all(np.sum(groups, axis=0) == size):
                    valid = False
                    break
                for group in groups:
                    if not np.all(groups[group][:, group]):
                        valid = False
                        break
                if not valid:
                    break
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
            if valid:
                inv_m = np.linalg.inv(latt_mat)
                new_latt = Lattice(np.dot(inv_m, self.lattice.matrix))
                struct = Structure(new_latt, new_sp, new_coords, site_properties=new_props, labels=new_labels,
                                   coords_are_cartesian=False)
                primitive = struct.get_primitive_structure(tolerance=tolerance, use_site_props=use_site_props,
                                                           constrain_latt=constrain_latt, reduce=reduce)
                if reduce:
                    primitive = primitive.get_reduced_structure()
                if not constrain_latt:
                    return primitive
                prim_latt, self_latt = primitive.lattice, self.lattice
                keys = tuple(constrain_latt)
                is_dict = isinstance(constrain_latt, dict)
                if np.allclose([getattr(prim_latt, key) for key in keys],
                               [constrain_latt[key] if is_dict else getattr(self_latt, key) for key in keys]):
                    return primitive
    return self.copy()
