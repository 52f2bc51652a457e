"""Symmetric slabs of every distinct low-index facet and termination of a bulk crystal.

The slabs are those of pymatgen's ``generate_all_slabs(max_index, min_slab, min_vac,
center_slab=True, symmetrize=True)`` on the conventional standard cell, computed faster by
replacing three costly pieces of pymatgen's ``SlabGenerator`` with equivalent cheap ones:

* ``center_slab`` asks for the neighbours of every site (``get_neighbors``) only to test a
  condition that cannot hold for a slab with vacuum (a neighbour farther than ``c``); it then
  moves the centre of mass to z = 0.5. We do that translation directly (about half the time).
* ``Slab.is_symmetric`` runs spglib twice through ``SpacegroupAnalyzer`` after *every* site
  removal of the symmetrisation loop. A symmetry that swaps the two surfaces maps heights along
  the normal z -> 2c - z, so the per-species height profile must be palindromic; we call spglib
  (once, not twice) only when that cheap necessary condition holds.
* ``SlabGenerator.__init__`` runs a symmetry analysis of the bulk per Miller index to tag
  sites; we tag the conventional cell once per compound.

Terminations that pymatgen's symmetrisation loses ("Too many sites removed") are retried with
thicker slabs; those still lost are returned as error rows with their reason.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

log = logging.getLogger(__name__)

LAUE_GROUPS = frozenset({"-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m", "6/m", "6/mmm", "m-3", "m-3m"})


@dataclass(frozen=True)
class SlabConfig:
    """How slabs are cut; every field is recorded in the output metadata."""

    max_index: int = 1
    min_slab_size_A: float = 10.0
    min_vacuum_size_A: float = 15.0
    center: bool = True
    symmetrize: bool = True
    primitive: bool = True
    tol: float = 0.1  # pymatgen: primitive-cell and StructureMatcher tolerance
    ftol: float = 0.1  # pymatgen: plane clustering (Å)
    slab_symprec: float = 0.1  # pymatgen Slab.is_symmetric default
    bulk_symprec: float = 0.1  # conventional standard cell (Materials Project setting)
    retry_thickness_factors: tuple[float, ...] = (1.5, 2.0)  # thicker slabs for lost terminations

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SlabResult:
    """Slabs of one compound: rows (plain values + arrays) and error rows."""

    compound_id: str
    spacegroup_symbol: str = ""
    spacegroup_number: int = 0
    n_miller: int = 0
    lattice: np.ndarray | None = None  # conventional standard cell (Å), for the Wulff shape
    slabs: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------- symmetry checks


def _normal_height(lattice: np.ndarray) -> float:
    """Height (Å) of the cell along the normal of its a×b plane."""
    normal = np.cross(lattice[0], lattice[1])
    return abs(float(np.dot(lattice[2], normal))) / float(np.linalg.norm(normal))


def _heights(frac: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Heights (Å) along the surface normal, unwrapped at the largest gap (the vacuum)."""
    fz = np.mod(frac[:, 2], 1.0)
    order = np.sort(fz)
    gaps = np.diff(np.concatenate([order, [order[0] + 1.0]]))
    cut = order[(int(np.argmax(gaps)) + 1) % len(order)]  # lowest site above the vacuum
    return np.mod(fz - cut, 1.0) * _normal_height(lattice)


def could_be_symmetric(frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray, tol: float) -> bool:
    """Necessary condition for equivalent surfaces: per species, heights palindromic within ``tol``.

    A symmetry swapping the two surfaces maps heights z -> 2c - z (c: slab centre).
    """
    z = _heights(frac, lattice)
    centre2 = z.min() + z.max()
    for zn in np.unique(numbers):
        zs = np.sort(z[numbers == zn])
        if np.max(np.abs(zs + zs[::-1] - centre2)) > tol:
            return False
    return True


def _is_symmetric_arrays(frac: np.ndarray, numbers: np.ndarray, lattice: np.ndarray, symprec: float,
                         angle_tolerance: float = 5.0) -> bool:
    if not could_be_symmetric(frac, numbers, lattice, tol=4 * symprec):
        return False
    import spglib

    ds = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=symprec, angle_tolerance=angle_tolerance)
    if ds is None:
        return False
    if ds.pointgroup.strip() in LAUE_GROUPS:
        return True
    return bool(np.any(np.all(ds.rotations[:, 2, :] == np.array([0, 0, -1]), axis=1)))


def is_symmetric(struct, symprec: float = 0.1, angle_tolerance: float = 5.0) -> bool:
    """Same answer as pymatgen's ``Slab.is_symmetric(symprec)``, with one spglib call.

    A centrosymmetric point group, or an operation flipping the normal (row ``[0, 0, -1]`` of a
    fractional rotation), makes the two surfaces equivalent. A cheap height test comes first.
    """
    numbers = np.array([site.specie.Z for site in struct], dtype=np.int32)
    return _is_symmetric_arrays(struct.frac_coords, numbers, struct.lattice.matrix, symprec, angle_tolerance)


# ----------------------------------------------------------------------------- generator


def _profile(slab) -> tuple[float, float, dict[int, np.ndarray]]:
    """Cell height, longest in-plane vector and per-species sorted heights about the centroid."""
    lattice = slab.lattice.matrix
    z = _heights(slab.frac_coords, lattice)
    z = z - z.mean()
    numbers = np.asarray(slab.atomic_numbers)
    in_plane = float(max(np.linalg.norm(lattice[0]), np.linalg.norm(lattice[1])))
    return _normal_height(lattice), in_plane, {int(n): np.sort(z[numbers == n]) for n in np.unique(numbers)}


def _may_match(p1, p2, max_dist: float) -> bool:
    """False only when StructureMatcher cannot match the two slabs.

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


def group_slabs(slabs: list, tol: float) -> list[list]:
    """pymatgen's ``StructureMatcher(ltol=tol, stol=tol, primitive_cell=False, scale=False)
    .group_structures(slabs)``, skipping fits that a height invariant rules out.

    Same groups as pymatgen (each structure joins the group of the first earlier reference
    that fits it); structures are reduced only when a fit is really needed.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    if len(slabs) < 2:
        return [list(slabs)]  if slabs else []
    matcher = StructureMatcher(ltol=tol, stol=tol, primitive_cell=False, scale=False)
    hashes = [matcher._comparator.get_hash(s.composition) for s in slabs]
    profiles = [_profile(s) for s in slabs]
    reduced: dict[int, object] = {}

    def red(i: int):
        if i not in reduced:
            s = matcher._process_species([slabs[i]])[0]
            reduced[i] = matcher._get_reduced_structure(s, False, niggli=True)
        return reduced[i]

    groups: list[list[int]] = []
    for i, s in enumerate(slabs):
        for g in groups:
            r = g[0]
            if hashes[r] != hashes[i]:
                continue
            max_dist = tol * (max(slabs[r].volume, s.volume) / len(s)) ** (1 / 3)
            if _may_match(profiles[r], profiles[i], max_dist) and matcher.fit(red(r), red(i),
                                                                                skip_structure_reduction=True):
                g.append(i)
                break
        else:
            groups.append([i])
    return [[slabs[i] for i in g] for g in groups]


@contextlib.contextmanager
def _fast_primitive():
    """Within the block, ``Structure.get_primitive_structure`` is the vectorised copy in
    :mod:`semcgcnn.pipeline.primitive` (same algorithm and result, no per-site KD-trees)."""
    from pymatgen.core import Structure

    from .primitive import get_primitive_structure

    original = Structure.get_primitive_structure
    Structure.get_primitive_structure = get_primitive_structure
    try:
        yield
    finally:
        Structure.get_primitive_structure = original


def _center(slab) -> None:
    """Move the mass centre to z = 0.5, as pymatgen's ``center_slab`` ends up doing."""
    weights = [site.species.weight for site in slab]
    com = np.average(slab.frac_coords, weights=weights, axis=0)
    slab.translate_sites(list(range(len(slab))), [0, 0, 0.5 - com[2]])


def _generator_class():
    from pymatgen.core.surface import SlabGenerator

    class FastSlabGenerator(SlabGenerator):
        """pymatgen's SlabGenerator with cheap centring and symmetry checks; records lost terminations."""

        symprec: float = 0.1
        lost: list

        def get_slab(self, shift: float = 0, tol: float = 0.1, energy: float | None = None):
            centre, self.center_slab = self.center_slab, False
            try:
                slab = super().get_slab(shift=shift, tol=tol, energy=energy)
            finally:
                self.center_slab = centre
            if centre:
                _center(slab)
            return slab

        def slab_at(self, shift: float, tol: float, thickness: float, extra_layers: int = 0):
            """The slab cut at ``shift`` whose atoms span at least ``thickness`` Å along the normal.

            pymatgen stacks ceil(min_slab_size / h) oriented cells of height h; the atoms then span
            that minus the gap between the two planes at the cut, so we choose the count from the gap.
            """
            z = np.sort(np.mod(self.oriented_unit_cell.frac_coords[:, 2], 1.0))
            below = z[z < shift].max() if np.any(z < shift) else z.max() - 1.0
            above = z[z >= shift].min() if np.any(z >= shift) else z.min() + 1.0
            h = self._proj_height
            n = max(1, math.ceil((thickness + (above - below) * h) / h - 1e-9)) + extra_layers
            saved, self.min_slab_size = self.min_slab_size, (n - 0.5) * h
            try:
                slab = self.get_slab(shift=shift, tol=tol, energy=0)
            finally:
                self.min_slab_size = saved
            slab.target_thickness = thickness
            return slab

        def symmetric_slabs(self, slab, tol: float, max_extra_layers: int = 2) -> list:
            """Symmetrised slabs of one termination, re-cut one oriented cell thicker (up to
            ``max_extra_layers`` times) while removing sites left them thinner than asked."""
            target = slab.target_thickness
            for extra in range(max_extra_layers + 1):
                if extra:
                    slab = self.slab_at(slab.shift, tol, target, extra_layers=extra)
                sym = self.nonstoichiometric_symmetrized_slab(slab)
                if not sym or min(thickness_A(s) for s in sym) >= target - 1e-6:
                    break
            for s in sym:
                s.target_thickness = target
            return sym

        def get_slabs(self, tol: float = 0.1, ftol: float = 0.1, symmetrize: bool = False, **_):
            """pymatgen's ``get_slabs`` without bonds: every termination, unique, symmetrised, unique."""
            self._ouc_primitive_cache()
            slabs = [self.slab_at(t, tol, self.min_slab_size) for t in self.gen_possible_terminations(ftol=ftol)]
            unique = [g[0] for g in group_slabs(slabs, tol)]
            if not symmetrize:
                return unique
            sym = [s for slab in unique for s in self.symmetric_slabs(slab, tol)]
            return [g[0] for g in group_slabs(sym, tol)]

        def _ouc_primitive_cache(self) -> None:
            """The oriented unit cell's primitive cell depends on the slab's a, b, angles only:
            compute it once per Miller index instead of once per termination."""
            ouc = self.oriented_unit_cell
            if getattr(ouc, "_semcgcnn_cached", False):
                return
            original, cache = ouc.get_primitive_structure, {}

            def cached(tolerance=0.25, use_site_props=False, constrain_latt=None, reduce=True):
                key = (tolerance, use_site_props, reduce,
                       tuple(sorted((k, round(float(v), 8)) for k, v in (constrain_latt or {}).items())))
                if key not in cache:
                    cache[key] = original(tolerance=tolerance, use_site_props=use_site_props,
                                          constrain_latt=constrain_latt, reduce=reduce)
                return cache[key].copy()

            ouc.get_primitive_structure = cached
            ouc._semcgcnn_cached = True

        def nonstoichiometric_symmetrized_slab(self, init_slab):
            """pymatgen's algorithm (remove the top or bottom site until symmetric), on arrays."""
            frac0 = init_slab.frac_coords
            numbers0 = np.array([site.specie.Z for site in init_slab], dtype=np.int32)
            lattice = init_slab.lattice.matrix
            if _is_symmetric_arrays(frac0, numbers0, lattice, self.symprec):
                return [init_slab]
            out = []
            for surface in ("top", "bottom"):
                keep = np.arange(len(frac0))
                while True:
                    z = frac0[keep, 2]
                    keep = np.delete(keep, int(np.argmax(z)) if surface == "top" else int(np.argmin(z)))
                    if len(keep) <= len(self.parent):
                        break  # pymatgen: "Too many sites removed, please use a larger slab."
                    if _is_symmetric_arrays(frac0[keep], numbers0[keep], lattice, self.symprec):
                        slab = init_slab.copy()
                        slab.energy = init_slab.energy
                        slab.remove_sites(sorted(set(range(len(frac0))) - set(keep.tolist())))
                        if self.center_slab:
                            _center(slab)
                        out.append(slab)
                        break
            if not out:
                self.lost.append(init_slab)
            return out

    return FastSlabGenerator


def conventional_cell(bulk, symprec: float = 0.1):
    """Conventional standard cell, tagged once with the bulk Wyckoff/equivalence site labels."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    sga = SpacegroupAnalyzer(bulk, symprec=symprec)
    conv = sga.get_conventional_standard_structure()
    ds = SpacegroupAnalyzer(conv, symprec=0.01).get_symmetry_dataset()  # what SlabGenerator would use
    conv.add_site_property("bulk_wyckoff", list(ds.wyckoffs))
    conv.add_site_property("bulk_equivalent", ds.equivalent_atoms.tolist())
    return conv, sga.get_space_group_symbol(), sga.get_space_group_number()


def slabs_for_miller(conv, miller: tuple[int, int, int], cfg: SlabConfig) -> tuple[list, list[dict]]:
    """Symmetric slabs of one facet (all terminations), and error rows for lost terminations."""
    with warnings.catch_warnings(), _fast_primitive():
        warnings.simplefilter("ignore")
        return _slabs_for_miller(conv, miller, cfg)


def _slabs_for_miller(conv, miller: tuple[int, int, int], cfg: SlabConfig) -> tuple[list, list[dict]]:
    gen = _generator_class()(
        conv, miller, cfg.min_slab_size_A, cfg.min_vacuum_size_A, center_slab=cfg.center, primitive=cfg.primitive
    )
    gen.symprec, gen.lost = cfg.slab_symprec, []
    slabs = gen.get_slabs(tol=cfg.tol, ftol=cfg.ftol, symmetrize=cfg.symmetrize)
    errors, n_recovered = [], 0
    for lost in list(gen.lost):
        recovered = []
        for factor in cfg.retry_thickness_factors:  # thicker slabs leave room to symmetrise
            gen.lost = []
            recovered = gen.symmetric_slabs(gen.slab_at(lost.shift, cfg.tol, cfg.min_slab_size_A * factor), cfg.tol)
            if recovered:
                break
        if recovered:
            slabs.extend(recovered)
            n_recovered += len(recovered)
        else:
            thickest = cfg.min_slab_size_A * max(cfg.retry_thickness_factors, default=1.0)
            errors.append({
                "stage": "slabs",
                "reason": (f"({' '.join(map(str, miller))}) termination at shift {lost.shift:.4f}: no symmetric "
                           f"slab before too many sites were removed (pymatgen symmetrize), up to {thickest:.0f} Å"),
            })
    if n_recovered:
        slabs = [g[0] for g in group_slabs(slabs, cfg.tol)]
    slabs.sort(key=lambda s: (s.shift, len(s)))
    return slabs, errors


def thickness_A(slab) -> float:
    """Extent of the atoms along the surface normal (Å)."""
    z = _heights(slab.frac_coords, slab.lattice.matrix)
    return float(z.max() - z.min())


def slab_row(slab, compound_id: str, bulk_reduced_formula: str, termination: int) -> dict:
    """One plain row describing a slab (the structure as plain arrays, JSON made later)."""
    h, k, l = (int(x) for x in slab.miller_index)
    z = _heights(slab.frac_coords, slab.lattice.matrix)
    area = float(slab.surface_area)
    cell_height = float(slab.volume / area)
    thickness = float(z.max() - z.min())
    return {
        "slab_id": f"{compound_id}_{h}_{k}_{l}_t{termination}",
        "compound_id": compound_id,
        "miller_h": h,
        "miller_k": k,
        "miller_l": l,
        "miller_index": f"({h} {k} {l})",
        "shift_frac": float(slab.shift),
        "termination_index": termination,
        "n_atoms": len(slab),
        "formula": slab.composition.reduced_formula,
        "stoichiometric": slab.composition.reduced_formula == bulk_reduced_formula,
        "slab_thickness_A": thickness,
        "vacuum_A": cell_height - thickness,
        "surface_area_A2": area,
        "min_slab_size_A": float(getattr(slab, "target_thickness", math.nan)),
        "lattice": np.asarray(slab.lattice.matrix, dtype=np.float64),
        "atomic_numbers": np.asarray(slab.atomic_numbers, dtype=np.int16),
        "frac_coords": np.asarray(slab.frac_coords, dtype=np.float64),
    }


def compound_slabs(compound_id: str, bulk, cfg: SlabConfig = SlabConfig()) -> SlabResult:
    """All symmetric slabs of every distinct Miller index (max index ``cfg.max_index``)."""
    from pymatgen.core.surface import get_symmetrically_distinct_miller_indices

    res = SlabResult(compound_id)
    try:
        conv, res.spacegroup_symbol, res.spacegroup_number = conventional_cell(bulk, cfg.bulk_symprec)
        millers = get_symmetrically_distinct_miller_indices(conv, cfg.max_index)
    except Exception as exc:  # noqa: BLE001 - a bad structure becomes an error row
        res.errors.append({"stage": "slabs", "id": compound_id, "reason": f"symmetry analysis failed: {exc}"})
        return res
    res.n_miller = len(millers)
    res.lattice = np.asarray(conv.lattice.matrix, dtype=np.float64)
    bulk_formula = conv.composition.reduced_formula
    for miller in millers:
        try:
            slabs, errors = slabs_for_miller(conv, tuple(miller), cfg)
        except Exception as exc:  # noqa: BLE001
            res.errors.append({"stage": "slabs", "reason": f"({' '.join(map(str, miller))}): {exc}"})
            continue
        res.errors.extend(errors)
        res.slabs.extend(slab_row(s, compound_id, bulk_formula, i) for i, s in enumerate(slabs))
    for e in res.errors:
        e["id"] = compound_id
    return res
