"""A naive CGCNN-style featurizer, written the way the original CGCNN ``CIFData`` does it.

Used as ground truth by the tests and as the baseline of ``bench/featurize.py``:
``get_all_neighbors`` → per-atom Python sort → padding → per-structure Gaussian expansion,
plus SEM-CGCNN's surface flag computed atom by atom.
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

from semcgcnn.model import GraphConfig


def reference_graph(structure: Structure, cfg: GraphConfig):
    """``(idx, dist, weight, gdf, surface)``: per atom, lists of its neighbours (CGCNN's nearest
    ``max_neighbors``, plus, by the featurizer's rule, every neighbour tied within
    ``cfg.tie_tolerance`` with the last, the tied shell sharing the weight of the slots it fills)."""
    all_nbrs = structure.get_all_neighbors(cfg.radius, include_index=True)
    all_nbrs = [sorted(nbrs, key=lambda x: (x.nn_distance, x.index)) for nbrs in all_nbrs]
    idx, dist, weight = [], [], []
    m, tol = cfg.max_neighbors, cfg.tie_tolerance
    for nbr in all_nbrs:
        if len(nbr) < m:
            kept, w = nbr, [1.0] * len(nbr)
        else:
            dk = nbr[m - 1].nn_distance
            kept = [x for x in nbr if x.nn_distance <= dk + tol]
            inner = [x for x in kept if x.nn_distance < dk - tol]
            share = (m - len(inner)) / (len(kept) - len(inner))
            w = [1.0 if x.nn_distance < dk - tol else share for x in kept]
        idx.append([x.index for x in kept])
        dist.append([x.nn_distance for x in kept])
        weight.append(w)
    grid = np.arange(cfg.gaussian_dmin, cfg.dmax + cfg.gaussian_step, cfg.gaussian_step)
    gdf = [np.exp(-((np.array(d)[:, np.newaxis] - grid) ** 2) / cfg.gaussian_step**2) for d in dist]
    # surface flags, atom by atom: heights along the a×b normal, slab unwrapped at the vacuum
    a, b, c = structure.lattice.matrix
    normal = np.cross(a, b) / np.linalg.norm(np.cross(a, b))
    spacing = abs(np.dot(c, normal))
    fz = sorted((site.frac_coords[2] % 1.0, i) for i, site in enumerate(structure))
    best_gap, bottom = -1.0, None
    for k in range(len(fz)):
        nxt = fz[(k + 1) % len(fz)][0] + (1.0 if k == len(fz) - 1 else 0.0)
        if nxt - fz[k][0] > best_gap:
            best_gap, bottom = nxt - fz[k][0], fz[(k + 1) % len(fz)][0]
    heights = [((site.frac_coords[2] % 1.0 - bottom) % 1.0) * spacing for site in structure]
    top = max(heights)
    surface = [h <= cfg.surface_depth + 1e-6 or top - h <= cfg.surface_depth + 1e-6 for h in heights]
    return idx, dist, weight, gdf, np.array(surface)
