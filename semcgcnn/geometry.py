"""Slab geometry: the area of a face and heights along the surface normal (NumPy only).

A slab's cell has its surface in the a×b plane and vacuum somewhere along c (which may be
oblique: only its projection on the a×b normal counts). Atoms of a slab may be wrapped across
the cell boundary, so heights are measured from the lowest atom above the largest periodic gap
in fractional c, taken to be the vacuum.

Two callers computed the cell height in two algebraically equal forms that can differ in the
last bit; both are kept (``unit_normal``) so that neither caller's numbers change:

* ``unit_normal=False``: ``|c · n| / |n|`` (slab generation, :mod:`semcgcnn.pipeline.slabs`);
* ``unit_normal=True``: ``|c · (n / |n|)|`` (crystal graphs, :mod:`semcgcnn.model.featurize`).
"""

from __future__ import annotations

import numpy as np


def normal_height(lattice: np.ndarray, unit_normal: bool = False) -> float:
    """Height (Å) of the cell along the normal of its a×b plane (see the module note on ``unit_normal``)."""
    normal = np.cross(lattice[0], lattice[1])
    if unit_normal:
        normal = normal / np.linalg.norm(normal)
        return abs(float(lattice[2] @ normal))
    return abs(float(np.dot(lattice[2], normal))) / float(np.linalg.norm(normal))


def face_area(lattice: np.ndarray) -> float:
    """Area (Å²) of one face of a slab whose surface is the a×b plane: |a × b|.

    Args:
        lattice: the cell's lattice vectors as rows (3 × 3, Å), e.g. ``structure.lattice.matrix``.
    """
    return float(np.linalg.norm(np.cross(lattice[0], lattice[1])))


def largest_gap(frac_z: np.ndarray) -> tuple[float, float]:
    """``(bottom, gap)``: the largest periodic gap between fractional heights in [0, 1) and the
    lowest height above it (where the slab starts when unwrapped)."""
    srt = np.sort(frac_z)
    gaps = np.diff(np.concatenate([srt, srt[:1] + 1.0]))
    k = int(np.argmax(gaps))
    return srt[(k + 1) % len(srt)], gaps[k]


def heights_along_normal(
    lattice: np.ndarray, frac: np.ndarray, unit_normal: bool = False
) -> tuple[np.ndarray, float]:
    """Height (Å) of every atom above the bottom surface along the a×b normal, unwrapped at the
    largest gap in fractional c, and that gap (the vacuum, Å)."""
    height = normal_height(lattice, unit_normal)
    fz = np.mod(frac[:, 2], 1.0)
    bottom, gap = largest_gap(fz)
    return np.mod(fz - bottom, 1.0) * height, float(gap) * height
