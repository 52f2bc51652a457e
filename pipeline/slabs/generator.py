"""pymatgen's ``SlabGenerator`` for one Miller index, with three costly pieces replaced by
equivalent cheap ones (see :mod:`semcgcnn.pipeline.slabs`), and lost terminations recorded.

Importing this module imports pymatgen; :mod:`.compound` imports it only when slabs are cut.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pymatgen.core.surface import SlabGenerator

from semcgcnn.geometry import heights_along_normal, normal_height

from . import _pymatgen_private as private
from .config import MAX_EXTRA_LAYERS, SlabConfig
from .matching import group_slabs
from .rows import thickness_A
from .symmetry import is_symmetric, is_symmetric_arrays

if TYPE_CHECKING:
    from pymatgen.core.surface import Slab


def center(slab: Slab) -> None:
    """Move the mass centre of ``slab`` (in place) to z = 0.5, as pymatgen's ``center_slab`` ends up
    doing."""
    weights = [site.species.weight for site in slab]
    com = np.average(slab.frac_coords, weights=weights, axis=0)
    slab.translate_sites(list(range(len(slab))), [0, 0, 0.5 - com[2]])


class FastSlabGenerator(SlabGenerator):
    """pymatgen's SlabGenerator with cheap centring and symmetry checks; records lost terminations.

    ``symprec`` is the slab symmetry tolerance; ``lost`` collects the terminations that
    :meth:`nonstoichiometric_symmetrized_slab` could not make symmetric.
    """

    symprec: float = SlabConfig.slab_symprec
    lost: list

    def get_slab(self, shift: float = 0, tol: float = SlabConfig.tol, energy: float | None = None) -> Slab:
        """pymatgen's slab at ``shift``, centred by :func:`center` instead of ``center_slab``.

        ``shift``: the fractional height of the termination; ``tol``: pymatgen's primitive-cell
        tolerance; ``energy``: the energy the slab carries.
        """
        centre, self.center_slab = self.center_slab, False
        try:
            slab = super().get_slab(shift=shift, tol=tol, energy=energy)
        finally:
            self.center_slab = centre
        if centre:
            center(slab)
        return slab

    def slab_at(self, shift: float, tol: float, thickness: float, extra_layers: int = 0) -> Slab:
        """The slab cut at ``shift`` whose atoms span at least ``thickness`` Å along the normal.

        pymatgen stacks ceil(min_slab_size / h) oriented cells of height h; the atoms then span
        that minus the gap between the two planes at the cut, so we choose the count from the gap.
        ``tol``: pymatgen's primitive-cell tolerance; ``extra_layers``: oriented cells stacked on
        top of that count.
        """
        z = np.sort(np.mod(self.oriented_unit_cell.frac_coords[:, 2], 1.0))
        below = z[z < shift].max() if np.any(z < shift) else z.max() - 1.0
        above = z[z >= shift].min() if np.any(z >= shift) else z.min() + 1.0
        h = private.projected_height(self)
        n = max(1, math.ceil((thickness + (above - below) * h) / h - 1e-9)) + extra_layers
        saved, self.min_slab_size = self.min_slab_size, (n - 0.5) * h
        try:
            slab = self.get_slab(shift=shift, tol=tol, energy=0)
        finally:
            self.min_slab_size = saved
        slab.target_thickness = thickness
        return slab

    def symmetric_slabs(self, slab: Slab, tol: float, max_extra_layers: int = MAX_EXTRA_LAYERS) -> list:
        """Symmetrised slabs of one termination, re-cut one oriented cell thicker (up to
        ``max_extra_layers`` times) while removing sites left them thinner than asked.

        ``slab``: the termination's slab from :meth:`slab_at`; ``tol``: pymatgen's primitive-cell
        tolerance.
        """
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

    def get_slabs(
        self, tol: float = SlabConfig.tol, ftol: float = SlabConfig.ftol, symmetrize: bool = False, **_
    ) -> list[Slab]:
        """pymatgen's ``get_slabs`` without bonds: every termination, unique, symmetrised, unique.

        ``tol``: the primitive-cell and ``StructureMatcher`` tolerance; ``ftol``: the plane
        clustering tolerance (Å) of the terminations; ``symmetrize``: whether to symmetrise. Other
        keyword arguments of pymatgen's ``get_slabs`` are accepted and ignored.
        """
        private.cache_oriented_cell_primitive(self.oriented_unit_cell)
        slabs = [self.slab_at(t, tol, self.min_slab_size) for t in self.gen_possible_terminations(ftol=ftol)]
        unique = [g[0] for g in group_slabs(slabs, tol)]
        if not symmetrize:
            return unique
        sym = [s for slab in unique for s in self.symmetric_slabs(slab, tol)]
        return [g[0] for g in group_slabs(sym, tol)]

    def nonstoichiometric_symmetrized_slab(self, init_slab: Slab) -> list[Slab]:
        """pymatgen's algorithm (remove the top or bottom site until symmetric), on arrays.

        ``init_slab``: the slab to symmetrise; it is appended to :attr:`lost` when neither face works.
        """
        numbers = np.array([site.specie.Z for site in init_slab], dtype=np.int32)
        if is_symmetric_arrays(init_slab.frac_coords, numbers, init_slab.lattice.matrix, self.symprec):
            return [init_slab]
        out = []
        for surface in ("top", "bottom"):
            keep = self._symmetric_subset(init_slab, numbers, surface)
            if keep is not None:
                out.append(self._without_sites(init_slab, keep))
        if not out:
            self.lost.append(init_slab)
        return out

    def _symmetric_subset(self, init_slab: Slab, numbers: np.ndarray, surface: str) -> np.ndarray | None:
        """Site indices left once sites are removed one by one from ``surface`` ("top"/"bottom")
        until the rest is symmetric; None if it would take the slab down to the bulk cell's size
        (pymatgen: "Too many sites removed, please use a larger slab")."""
        frac, lattice = init_slab.frac_coords, init_slab.lattice.matrix
        keep = np.arange(len(frac))
        while True:
            z = frac[keep, 2]
            keep = np.delete(keep, int(np.argmax(z)) if surface == "top" else int(np.argmin(z)))
            if len(keep) <= len(self.parent):
                return None
            if is_symmetric_arrays(frac[keep], numbers[keep], lattice, self.symprec):
                return keep

    def mirrored_slab(self, shift: float, tol: float, thickness: float, ftol: float) -> Slab | None:
        """A symmetric slab with the termination at ``shift`` on both faces, or None (``tol``:
        pymatgen's primitive-cell tolerance).

        The bulk is stacked one oriented cell (height h) more than ``thickness`` above the
        termination plane; whole atomic planes (heights clustered within ``ftol`` Å, as pymatgen
        finds terminations) are then removed from the top, never touching the bottom face, and
        the thinnest slab still at least ``thickness`` thick that :func:`is_symmetric_arrays`
        accepts is kept. If a bulk operation g reverses the normal, it maps the bottom plane P
        onto an equivalent plane g(P) and the slab between them onto itself; the images of P
        under g and the lattice translations lie less than h apart along the normal, so one
        falls in the stacked window. Without such an operation this is None for thick slabs.
        """
        h = private.projected_height(self)
        slab = self.slab_at(shift, tol, thickness + h + ftol)
        numbers = np.array([site.specie.Z for site in slab], dtype=np.int32)
        frac, lattice = slab.frac_coords, slab.lattice.matrix
        z, _ = heights_along_normal(lattice, frac)
        order = np.argsort(z, kind="stable")
        tops = np.flatnonzero(
            np.diff(z[order]) > ftol
        )  # last index (in ``order``) of every plane but the top one
        best = None
        for last in tops:  # the thinnest stack still thick enough first: the first symmetric one wins
            if z[order[last]] - z[order[0]] < thickness - 1e-6:
                continue
            keep = np.sort(order[: last + 1])
            if is_symmetric_arrays(frac[keep], numbers[keep], lattice, self.symprec):
                best = keep
                break
        if best is None:
            return None
        out = self._without_sites(slab, best)
        trimmed = self._trim_vacuum(out, h)
        if trimmed is not out and is_symmetric(trimmed, self.symprec):
            out = trimmed
        out.target_thickness = thickness
        return out

    def _trim_vacuum(self, slab: Slab, h: float) -> Slab:
        """``slab`` with as many oriented cells (height ``h``) of vacuum taken out as leave at least
        ``min_vac_size`` Å: removing planes from the top of a stack one cell taller than needed
        leaves more vacuum than pymatgen's own slabs have. Atoms keep their relative positions."""
        from pymatgen.core import Lattice
        from pymatgen.core.surface import Slab

        if not self.center_slab:
            return slab
        height = normal_height(slab.lattice.matrix)
        extra = math.floor((height - thickness_A(slab) - self.min_vac_size) / h + 1e-9)
        if extra <= 0:
            return slab
        f = (height - extra * h) / height
        matrix = slab.lattice.matrix.copy()
        matrix[2] *= f
        frac = slab.frac_coords.copy()
        frac[:, 2] = 0.5 + (frac[:, 2] - 0.5) / f  # centred slab: z about the middle, scaled back
        out = Slab(
            Lattice(matrix),
            slab.species,
            frac,
            slab.miller_index,
            slab.oriented_unit_cell,
            slab.shift,
            slab.scale_factor,
            reorient_lattice=False,
            site_properties=slab.site_properties,
            energy=slab.energy,
        )
        center(out)
        return out

    def _without_sites(self, init_slab: Slab, keep: np.ndarray) -> Slab:
        """A copy of ``init_slab`` holding only the sites ``keep``, centred like every slab."""
        slab = init_slab.copy()
        slab.energy = init_slab.energy
        slab.remove_sites(sorted(set(range(len(init_slab))) - set(keep.tolist())))
        if self.center_slab:
            center(slab)
        return slab
