"""Structure → crystal graph, as CGCNN and SEM-CGCNN define it, vectorised.

* nodes: atomic number (→ 92 CGCNN features) plus a surface flag (SEM-CGCNN §2.2.2), kept
  per side (bottom/top) for the surface readout, with the face area per graph;
* edges: the ``max_neighbors`` nearest neighbours within ``radius`` (periodic images
  included), with a rule for ties that makes the graph independent of the order of the sites:
  every neighbour tied (within ``tie_tolerance``) with the ``max_neighbors``-th one enters, and
  that tied shell shares the weight of the slots it fills, so the weights of an atom's edges
  still sum to ``max_neighbors`` (CGCNN instead keeps the tied atoms of lowest site index, so
  reordering a file changes which species send messages). Each graph is a padded (N, M) table
  with M its widest atom's edge count; padding points at the atom itself with weight 0;
* edge features: Gaussian expansion of the distance (:func:`gaussian_expand`).

No per-atom Python loop: the neighbour search is pymatgen's Cython
``find_points_in_spheres`` and the selection one lexsort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.errors import UserError
from semcgcnn.geometry import face_area, heights_along_normal
from semcgcnn.validation import (
    MIN_DISTANCE_A,
    InvalidStructureError,
    check_structure,
    overlapping,
    slab_layers_problem,
)

from .atom_features import check_elements

if TYPE_CHECKING:
    from pymatgen.core import Structure
from .config import GraphConfig

_PBC = np.ones(3, dtype=np.int64)
_SELF_TOL = 1e-8


class NoVacuumError(UserError):
    """The structure has no vacuum gap along c, so it is not a slab."""


class OverlappingAtomsError(UserError):
    """Two atoms sit (almost) on top of each other."""


BOTTOM, TOP = 1, 2
"""Bits of a graph's per-atom ``side``: within ``surface_depth`` of the bottom / the top surface
(an atom of a very thin slab can carry both)."""


@dataclass
class CrystalGraph:
    """The graph of one structure (local neighbour indices)."""

    atomic_numbers: np.ndarray  # (N,) int
    side: np.ndarray  # (N,) uint8 bitmask of BOTTOM/TOP, 0 for interior atoms
    nbr_idx: np.ndarray  # (N, M) int64
    nbr_dist: np.ndarray  # (N, M) float64, Å
    nbr_weight: np.ndarray  # (N, M) float32: 1, a tied shell's share, or 0 for padding
    area: float  # Å², |a × b|: the area of one face

    def __len__(self) -> int:
        return len(self.atomic_numbers)

    @property
    def surface(self) -> np.ndarray:
        """(N,) bool: the paper's surface flag (within ``surface_depth`` of either surface)."""
        return self.side > 0


def slab_heights(lattice: np.ndarray, frac: np.ndarray, min_vacuum: float) -> tuple[np.ndarray, float]:
    """Height of every atom above the bottom surface, along the a×b normal (Å), and the vacuum.

    The vacuum is the largest gap between atomic planes along c (periodic), so a slab that
    is wrapped across the cell boundary is unwrapped first. ``c`` may be oblique: only its
    projection on the normal counts. A slab of fewer than two atomic layers is an
    :class:`~semcgcnn.validation.InvalidStructureError`.
    """
    heights, vacuum = heights_along_normal(lattice, frac, unit_normal=True)
    if vacuum < min_vacuum:
        raise NoVacuumError(f"no vacuum gap along c (largest gap {vacuum:.2f} Å < {min_vacuum} Å)")
    problem = slab_layers_problem(heights)
    if problem:
        raise InvalidStructureError(problem)
    return heights, vacuum


def surface_sides(lattice: np.ndarray, frac: np.ndarray, config: GraphConfig) -> np.ndarray:
    """(N,) uint8: :data:`BOTTOM` for atoms within ``surface_depth`` Å of the bottom surface,
    :data:`TOP` for the top one (along the a×b normal), both bits for an atom within reach of both."""
    h, _ = slab_heights(lattice, frac, config.min_vacuum)
    tol = 1e-6
    bottom = h <= config.surface_depth + tol
    top = h.max() - h <= config.surface_depth + tol
    return (bottom * BOTTOM + top * TOP).astype(np.uint8)


def surface_flags(lattice: np.ndarray, frac: np.ndarray, config: GraphConfig) -> np.ndarray:
    """True for atoms within ``surface_depth`` Å of either surface, along the a×b normal."""
    return surface_sides(lattice, frac, config) > 0


def _neighbor_pairs(cart: np.ndarray, centers: np.ndarray, lattice: np.ndarray, r: float):
    """All (center, neighbour, distance) pairs within r, self excluded; center indices refer to
    ``centers``."""
    from pymatgen.optimization.neighbors import find_points_in_spheres  # lazy: training needs no pymatgen

    c, n, _, d = find_points_in_spheres(
        cart, np.ascontiguousarray(cart[centers]), r=float(r), pbc=_PBC, lattice=lattice, tol=_SELF_TOL
    )
    c = centers[c]
    keep = ~((c == n) & (d <= _SELF_TOL))
    return c[keep], n[keep].astype(np.int64), d[keep]


def _nearest_with_ties(
    c: np.ndarray, n: np.ndarray, d: np.ndarray, n_atoms: int, k: int, tol: float, pad_distance: float
):
    """Per centre, its k nearest pairs plus every pair tied (within ``tol``) with the k-th, as a
    padded table ``(idx, dist, weight)``: weight 1 below the k-th distance's shell, and
    ``(k - n_inner) / n_shell`` for the shell, so an atom's weights sum to k (its pairs' count when
    it has fewer than k). The result depends only on the set of pairs, never on their order."""
    order = np.lexsort((n, d, c))
    c, n, d = c[order], n[order], d[order]
    kth, starts = _kth_of_sorted(c, d, n_atoms, k)
    rank = np.arange(len(c)) - starts[c]
    dk = kth[c]
    keep = d <= dk + tol
    inner = d < dk - tol
    n_inner = np.bincount(c[inner], minlength=n_atoms)
    n_shell = np.bincount(c[keep & ~inner], minlength=n_atoms)
    share = np.where(n_shell > 0, (k - n_inner) / np.maximum(n_shell, 1), 1.0)
    weight = np.where(inner | ~np.isfinite(dk), 1.0, share[c])
    width = max(int(np.bincount(c[keep], minlength=n_atoms).max(initial=0)), 1)
    idx = np.repeat(np.arange(n_atoms, dtype=np.int64)[:, None], width, axis=1)  # padding: the atom itself
    dist = np.full((n_atoms, width), pad_distance, dtype=np.float64)
    w = np.zeros((n_atoms, width), dtype=np.float32)
    ck, rk = c[keep], rank[keep]
    idx[ck, rk], dist[ck, rk], w[ck, rk] = n[keep], d[keep], weight[keep]
    return idx, dist, w


def neighbor_table(
    lattice: np.ndarray, cart: np.ndarray, config: GraphConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(nbr_idx, nbr_dist, nbr_weight)``, each (N, M): the ``max_neighbors`` nearest neighbours
    and those tied with the last (:func:`_nearest_with_ties`), identical to a full ``radius`` search."""
    lattice = np.ascontiguousarray(lattice, dtype=np.float64)
    cart = np.ascontiguousarray(cart, dtype=np.float64)
    n_atoms, k, tol = len(cart), config.max_neighbors, config.tie_tolerance
    everyone = np.arange(n_atoms)
    r0 = min(config.search_radius, config.radius)
    c, n, d = _neighbor_pairs(cart, everyone, lattice, r0)
    if len(d) and d.min() < MIN_DISTANCE_A:
        raise OverlappingAtomsError(overlapping(float(d.min())))
    if r0 < config.radius:
        # atoms whose tied k-th shell is not safely inside r0 need the full-radius search
        order = np.lexsort((d, c))
        kth, _ = _kth_of_sorted(c[order], d[order], n_atoms, k)
        redo = np.flatnonzero(kth > r0 - tol - 1e-4)
        if len(redo):
            c2, n2, d2 = _neighbor_pairs(cart, redo, lattice, config.radius)
            mine = ~np.isin(c, redo)
            c, n, d = (np.concatenate([a[mine], b]) for a, b in ((c, c2), (n, n2), (d, d2)))
    idx, dist, w = _nearest_with_ties(c, n, d, n_atoms, k, tol, config.pad_distance)
    return idx, dist, w


def _kth_of_sorted(c: np.ndarray, d: np.ndarray, n_atoms: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For pairs sorted by (centre, distance): each centre's k-th smallest distance (inf where it
    has fewer than k pairs) and the position of its first pair."""
    counts = np.bincount(c, minlength=n_atoms)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    kth = np.full(n_atoms, np.inf)
    full = counts >= k
    kth[full] = d[starts[full] + k - 1]
    return kth, starts


def featurize_arrays(
    lattice: np.ndarray, frac: np.ndarray, atomic_numbers: np.ndarray, config: GraphConfig
) -> CrystalGraph:
    """Graph of one structure given as arrays (lattice rows in Å, fractional coordinates)."""
    atomic_numbers = np.asarray(atomic_numbers, dtype=np.int64)
    check_elements(atomic_numbers)
    lattice = np.asarray(lattice, dtype=np.float64)
    frac = np.asarray(frac, dtype=np.float64)
    side = surface_sides(lattice, frac, config)
    idx, dist, weight = neighbor_table(lattice, frac @ lattice, config)
    return CrystalGraph(atomic_numbers, side, idx, dist, weight, face_area(lattice))


def featurize(structure: Structure, config: GraphConfig | None = None) -> CrystalGraph:
    """Graph of one pymatgen ``Structure``/``Slab``.

    ``structure`` is checked with :func:`semcgcnn.validation.check_structure` first; ``config`` sets
    the graph's radius, neighbour count and Gaussian expansion (default: :class:`GraphConfig`).
    """
    config = config or GraphConfig()
    check_structure(structure)
    return featurize_arrays(structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers, config)


def gaussian_centers(config: GraphConfig) -> np.ndarray:
    return config.gaussian_dmin + config.gaussian_step * np.arange(config.n_gaussians)


def gaussian_expand(dist: np.ndarray, config: GraphConfig) -> np.ndarray:
    """CGCNN's ``exp(-(d - μ_k)² / σ²)`` with μ on the config grid and σ = step."""
    mu = gaussian_centers(config)
    return np.exp(-((np.asarray(dist)[..., None] - mu) ** 2) / config.gaussian_step**2)
