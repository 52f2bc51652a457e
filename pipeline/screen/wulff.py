"""Wulff construction from per-slab surface energies: area-weighted surface energy and work function.

Per compound, each facet (Miller index) takes its lowest surface energy over the terminations,
and the work function of that same slab. The Wulff shape is the intersection of the half-spaces
{x : n·x ≤ γ} over every plane symmetry-equivalent to a facet under the conventional lattice's
point group (the planes pymatgen's ``WulffShape`` uses); it gives each facet's area fraction f_i,
and the weighted values are Σγ_i·f_i and Σφ_i·f_i. Facets that do not reach the equilibrium shape
keep an area fraction of 0 and stay in the facet table.

Why not ``WulffShape`` itself: it builds the shape through a convex hull of the dual points
n/γ, whose qhull step stops with "initial simplex is flat" when the facets do not enclose a
crystal (on the shipped Mg–X binaries: every failure was facet families whose normals all lie in
one plane, because the slab stage had no symmetric slab of the families that would close the
shape); here that case is named in words (:func:`closure_problem`). It also assigns each face
triangle to the first plane, in energy order, within 1e-5 eV/Å² of the triangle's centre, which
hands slivers of a facet to a lower-energy plane passing just outside it (3e-4 of the area of
cubic mp-1038814); here a triangle goes to the plane it lies on. Elsewhere the two agree to
1e-6 in area fraction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from pymatgen.core import Lattice

    from semcgcnn.model.uncertainty import SigmaModel


@dataclass(frozen=True)
class Facet:
    """The lowest-energy slab of one Miller index."""

    miller: tuple[int, int, int]
    slab_id: str
    surface_energy_eV_per_A2: float
    work_function_eV: float
    symmetric: bool = True  # False: an asymmetric polar slab (γ the mean of its two faces)


def lowest_per_facet(rows: Sequence[dict]) -> list[Facet]:
    """From slab rows (``miller_h/k/l``, ``slab_id``, surface energy, work function, optionally
    ``symmetric_slab``), the slab of lowest surface energy per Miller index, in first-seen Miller
    order: among the symmetric slabs where the index has any, else among its asymmetric ones.
    NaN energies are skipped."""
    best: dict[tuple[int, int, int], dict] = {}
    for r in rows:
        se = r["surface_energy_eV_per_A2"]
        if se is None or not math.isfinite(se):
            continue
        hkl = (int(r["miller_h"]), int(r["miller_k"]), int(r["miller_l"]))
        rank = (not r.get("symmetric_slab", True), se)
        if hkl not in best or rank < (
            not best[hkl].get("symmetric_slab", True),
            best[hkl]["surface_energy_eV_per_A2"],
        ):
            best[hkl] = r
    return [
        Facet(
            hkl,
            r["slab_id"],
            float(r["surface_energy_eV_per_A2"]),
            float(r["work_function_eV"]),
            bool(r.get("symmetric_slab", True)),
        )
        for hkl, r in best.items()
    ]


@dataclass
class WulffResult:
    """Area fractions per facet (same order as the input facets) and the weighted values."""

    area_fractions: list[float]
    weighted_surface_energy_eV_per_A2: float
    weighted_work_function_eV: float
    shape_factor: float
    anisotropy: float

    @property
    def weighted_surface_energy_J_per_m2(self) -> float:
        return self.weighted_surface_energy_eV_per_A2 * EV_PER_A2_TO_J_PER_M2


def _as_lattice(lattice: Lattice | ArrayLike) -> Lattice:
    from pymatgen.core import Lattice

    return lattice if isinstance(lattice, Lattice) else Lattice(np.asarray(lattice, dtype=float))


def symmetry_planes(
    lattice: Lattice | ArrayLike, facets: Sequence[Facet], symprec: float = 1e-5
) -> list[tuple[int, tuple[int, int, int]]]:
    """``(facet index, hkl)`` of every plane of the Wulff construction: each facet's Miller index
    under the point-group operations of the lattice's reciprocal lattice, as pymatgen's
    ``WulffShape`` makes them (same operations, same ``symprec``; an hkl already made by an
    earlier facet is not repeated). ``lattice``: the conventional cell (pymatgen ``Lattice`` or 3×3
    matrix); ``facets``: the facets, in the order their indices refer to."""
    ops = _as_lattice(lattice).get_recp_symmetry_operation(symprec)
    seen: dict[tuple[int, int, int], int] = {}
    for i, f in enumerate(facets):
        for op in ops:
            seen.setdefault(tuple(int(x) for x in op.operate(f.miller)), i)
    return [(i, hkl) for hkl, i in seen.items()]


def _unit_normals(lattice: Lattice | ArrayLike, millers: Sequence[Sequence[int]]) -> np.ndarray:
    """Cartesian unit normals of the planes ``millers`` (rows)."""
    n = np.asarray(
        _as_lattice(lattice).reciprocal_lattice_crystallographic.get_cartesian_coords(
            np.asarray(millers, dtype=float)
        ),
        dtype=float,
    ).reshape(-1, 3)
    return n / np.linalg.norm(n, axis=1)[:, None]


def _direction_label(lattice: Lattice | ArrayLike, cart: np.ndarray) -> str:
    """A Cartesian direction as the smallest integer lattice direction ``[u v w]`` when there is one."""
    frac = _as_lattice(lattice).get_fractional_coords(cart)
    frac = frac / np.abs(frac).max()
    frac = -frac if frac[np.flatnonzero(np.abs(frac) > 1e-6)[0]] < 0 else frac  # [0 0 1], not [0 0 -1]
    for scale in range(1, 7):
        uvw = frac * scale
        if np.allclose(uvw, np.round(uvw), atol=1e-4):
            return "[{} {} {}]".format(*(int(x) + 0 for x in np.round(uvw)))
    return "[{:.3f} {:.3f} {:.3f}]".format(*frac)


def closure_problem(
    lattice: Lattice | ArrayLike, facets: Sequence[Facet], planes: list | None = None
) -> str | None:
    """Why these facets cannot enclose a finite crystal, in one sentence, or ``None`` when they can.

    The planes n·x = γ (γ > 0, all symmetry-equivalent normals n, a set closed under inversion
    because every lattice point group is) bound a finite body exactly when their normals span
    3-D space. When every normal is perpendicular to one direction, the shape is an open prism
    along it; when all normals are parallel, it is an infinite slab. ``lattice`` and ``facets``: as
    in :func:`wulff`; ``planes``: the facets' :func:`symmetry_planes`, if already known.
    """
    planes = planes if planes is not None else symmetry_planes(lattice, facets)
    normals = _unit_normals(lattice, [hkl for _, hkl in planes])
    _, s, vt = np.linalg.svd(normals)
    rank = int((s > 1e-6 * s[0]).sum())
    if rank == 3:
        return None
    names = ", ".join(miller_label(f.miller) for f in facets)
    names, their = (f"facet {names} only", "its") if len(facets) == 1 else (f"facets {names} only", "their")
    if rank == 2:
        return (
            f"{names}: all {their} symmetry-equivalent planes are parallel to the "
            f"{_direction_label(lattice, vt[2])} direction, so they do not enclose a finite crystal"
        )
    return f"{names}: all {their} planes are parallel to one another, so they do not enclose a finite crystal"


def miller_label(miller: Sequence[int]) -> str:
    return "({} {} {})".format(*miller)


def halfspace_wulff(
    lattice: Lattice | ArrayLike, facets: Sequence[Facet], planes: list | None = None
) -> WulffResult:
    """The Wulff shape as the intersection of the half-spaces {x : n·x ≤ γ} over every
    symmetry-equivalent plane (scipy ``HalfspaceIntersection``, in Cartesian coordinates with γ
    scaled to at most 1), each facet's area from the triangles of the shape's convex hull.

    The same construction as pymatgen's ``WulffShape`` (same planes, same area, volume, shape
    factor and anisotropy definitions) without its dual hull. Assumes positive γ and facets that
    enclose a crystal (:func:`closure_problem`); ``lattice`` and ``facets``: as in :func:`wulff`;
    ``planes``: their :func:`symmetry_planes`, if known.
    """
    from scipy.spatial import ConvexHull, HalfspaceIntersection

    planes = planes if planes is not None else symmetry_planes(lattice, facets)
    idx = np.array([i for i, _ in planes])
    gamma = np.array([facets[i].surface_energy_eV_per_A2 for i in idx], dtype=float)
    order = np.argsort(gamma, kind="stable")  # ties go to the lower-energy plane, as in pymatgen
    idx, gamma = idx[order], gamma[order]
    normals = _unit_normals(lattice, [planes[j][1] for j in order])
    scale = gamma.max()
    halfspaces = np.hstack([normals, -(gamma / scale)[:, None]])
    last: Exception | None = None
    for options in (None, "QJ"):
        try:
            kw = {} if options is None else {"qhull_options": options}
            verts = HalfspaceIntersection(halfspaces, np.zeros(3), **kw).intersections
            hull = ConvexHull(verts)
            break
        except Exception as exc:  # noqa: BLE001 - qhull precision; retried joggled
            last = exc
    else:
        raise ValueError(f"half-space Wulff construction failed: {str(last).splitlines()[0]}") from None
    pts = verts[hull.simplices]  # (triangles, 3 corners, xyz)
    dist = np.abs(pts.mean(axis=1) @ normals.T - gamma / scale)  # each triangle's centre to each plane
    plane = dist.argmin(axis=1)
    if (dist[np.arange(len(plane)), plane] > 1e-6).any():
        raise ValueError("half-space Wulff construction: a face of the shape lies on no facet plane")
    area = np.zeros(len(facets))
    np.add.at(
        area, idx[plane], 0.5 * np.linalg.norm(np.cross(pts[:, 1] - pts[:, 0], pts[:, 2] - pts[:, 0]), axis=1)
    )
    total = area.sum()
    fractions = area / total
    se = np.array([f.surface_energy_eV_per_A2 for f in facets])
    weighted_se = float(se @ fractions)
    anisotropy = float(np.sqrt(((se - weighted_se) ** 2) @ fractions) / weighted_se)
    shape_factor = float(total / hull.volume ** (2 / 3))
    wf = np.array([f.work_function_eV for f in facets])
    return WulffResult(
        [float(a) for a in fractions], weighted_se, float(wf @ fractions), shape_factor, anisotropy
    )


def wulff(lattice: Lattice | ArrayLike, facets: Sequence[Facet]) -> WulffResult:
    """Wulff shape of ``facets`` on ``lattice`` (pymatgen ``Lattice`` or 3×3 matrix, conventional cell).

    Raises ``ValueError`` with a physical reason when there is no shape: no facet, a γ ≤ 0, or
    facets whose planes do not enclose a finite crystal (:func:`closure_problem`).
    """
    if not facets:
        raise ValueError("no facet with a finite surface energy")
    bad = [f.miller for f in facets if not f.surface_energy_eV_per_A2 > 0]
    if bad:  # a Wulff construction needs positive γ; the model can extrapolate below zero
        raise ValueError(f"predicted surface energy ≤ 0 (unphysical) for facet(s) {', '.join(map(str, bad))}")
    lattice = _as_lattice(lattice)
    planes = symmetry_planes(lattice, facets)
    problem = closure_problem(lattice, facets, planes)
    if problem:
        raise ValueError(problem)
    return halfspace_wulff(lattice, facets, planes)


def compound_wulff(
    compound_id: str, lattice: Lattice | ArrayLike | None, facets: Sequence[Facet]
) -> tuple[WulffResult | None, list[dict]]:
    """The Wulff shape of one compound, or ``None`` and an error row saying why there is none.

    ``compound_id`` names the compound in the error row; ``lattice`` is its conventional cell
    (``None`` when there is none: no shape and no error row); ``facets`` as in :func:`wulff`.
    """
    if not facets:
        return None, [
            {"stage": "wulff", "id": compound_id, "reason": "no slab with a predicted surface energy"}
        ]
    if lattice is None:
        return None, []
    try:
        return wulff(lattice, facets), []
    except ValueError as exc:
        return None, [{"stage": "wulff", "id": compound_id, "reason": str(exc)}]


def weighted_spread(
    fractions: Sequence[float],
    best: Sequence[Facet],
    members: dict[str, dict],
    sigma: SigmaModel,
    distances: dict[str, float] | None = None,
) -> tuple[float, float]:
    """1σ of the Wulff-weighted γ and Φ: each member's Σ fᵢ·γᵢ (and Σ fᵢ·Φᵢ) over the facets'
    slabs at the ensemble centre's area fractions fᵢ (the shape held fixed: first order) gives the
    weighted spread; the distance term is Σ fᵢ·dᵢ (a new system's error is shared by its facets,
    so the facets' distances add, not in quadrature); ``sigma`` combines them as it does per slab.
    ``members``: per slab_id ``{"surface_energy": [k values], "work_function": [k values]}``;
    ``distances``: per slab_id the relative distance (``None``: spread only). NaN without members
    (a single model) or without a shape."""
    f = np.asarray(fractions, dtype=float)
    if not len(best) or f.sum() <= 0 or any(b.slab_id not in members for b in best):
        return math.nan, math.nan
    d_w = None
    if distances is not None and all(math.isfinite(distances.get(b.slab_id, math.nan)) for b in best):
        d_w = np.array([f @ np.array([distances[b.slab_id] for b in best])])
    out = []
    for task in ("surface_energy", "work_function"):
        m = np.array([members[b.slab_id][task] for b in best], dtype=float)  # (facets, k)
        if m.ndim != 2 or m.shape[1] < 2 or task not in sigma.tasks:
            return math.nan, math.nan
        out.append(float(sigma.tasks[task](np.array([(f @ m).std(ddof=1)]), d_w)[0]))
    return out[0], out[1]
