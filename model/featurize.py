"""Structure → crystal graph, as CGCNN and SEM-CGCNN define it, vectorised.

* nodes: atomic number (→ 92 CGCNN features) plus a surface flag (SEM-CGCNN §2.2.2), kept
  per side (bottom/top) for the surface readout, with the face area per graph;
* edges: the ``max_neighbors`` nearest neighbours within ``radius`` (periodic images
  included), ordered by distance then neighbour index; atoms with fewer neighbours are
  padded CGCNN-style with index 0 at distance ``radius + 1``;
* edge features: Gaussian expansion of the distance (:func:`gaussian_expand`).

No per-atom Python loop: the neighbour search is pymatgen's Cython
``find_points_in_spheres`` and the top-k selection one lexsort.
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
_TIE_QUANTUM = 1e-6  # Å: distances equal to this resolution count as ties (broken by index)


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


def _top_k(c: np.ndarray, n: np.ndarray, d: np.ndarray, n_atoms: int, k: int, pad_distance: float):
    """Per centre, the k nearest (distance, then index) pairs, padded CGCNN-style."""
    dq = np.rint(d / _TIE_QUANTUM).astype(np.int64)
    order = np.lexsort((n, dq, c))
    c, n, d = c[order], n[order], d[order]
    counts = np.bincount(c, minlength=n_atoms)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(c)) - starts[c]
    keep = rank < k
    idx = np.zeros((n_atoms, k), dtype=np.int64)
    dist = np.full((n_atoms, k), pad_distance, dtype=np.float64)
    idx[c[keep], rank[keep]] = n[keep]
    dist[c[keep], rank[keep]] = d[keep]
    return idx, dist, counts


def neighbor_table(
    lattice: np.ndarray, cart: np.ndarray, config: GraphConfig
) -> tuple[np.ndarray, np.ndarray]:
    """``(nbr_idx, nbr_dist)`` of shape (N, max_neighbors), identical to a full ``radius`` search."""
    lattice = np.ascontiguousarray(lattice, dtype=np.float64)
    cart = np.ascontiguousarray(cart, dtype=np.float64)
    n_atoms, k = len(cart), config.max_neighbors
    everyone = np.arange(n_atoms)
    r0 = min(config.search_radius, config.radius)
    c, n, d = _neighbor_pairs(cart, everyone, lattice, r0)
    if len(d) and d.min() < MIN_DISTANCE_A:
        raise OverlappingAtomsError(overlapping(float(d.min())))
    idx, dist, counts = _top_k(c, n, d, n_atoms, k, config.pad_distance)
    if r0 < config.radius:
        # atoms whose k-th neighbour is not safely inside r0 need the full-radius search
        redo = np.flatnonzero((counts < k) | (dist[:, -1] > r0 - 1e-4))
        if len(redo):
            c2, n2, d2 = _neighbor_pairs(cart, redo, lattice, config.radius)
            idx2, dist2, _ = _top_k(c2, n2, d2, n_atoms, k, config.pad_distance)
            idx[redo], dist[redo] = idx2[redo], dist2[redo]
    return idx, dist


def featurize_arrays(
    lattice: np.ndarray, frac: np.ndarray, atomic_numbers: np.ndarray, config: GraphConfig
) -> CrystalGraph:
    """Graph of one structure given as arrays (lattice rows in Å, fractional coordinates)."""
    atomic_numbers = np.asarray(atomic_numbers, dtype=np.int64)
    check_elements(atomic_numbers)
    lattice = np.asarray(lattice, dtype=np.float64)
    frac = np.asarray(frac, dtype=np.float64)
    side = surface_sides(lattice, frac, config)
    idx, dist = neighbor_table(lattice, frac @ lattice, config)
    return CrystalGraph(atomic_numbers, side, idx, dist, face_area(lattice))


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
