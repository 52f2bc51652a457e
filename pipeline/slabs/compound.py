"""All symmetric slabs of one compound: conventional cell, distinct Miller indices, every
termination, lost terminations retried thicker or reported as error rows."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from . import _pymatgen_private as private
from .config import SlabConfig, SlabResult
from .matching import group_slabs, matches_any
from .rows import slab_row

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymatgen.core.surface import Slab

    from .generator import FastSlabGenerator


def conventional_cell(
    bulk: Structure, symprec: float = SlabConfig.bulk_symprec
) -> tuple[Structure, str, int]:
    """Conventional standard cell, tagged once with the bulk Wyckoff/equivalence site labels, with
    the space-group symbol and number.

    ``bulk``: the bulk structure of the compound; ``symprec``: the symmetry tolerance (Å) of the
    space-group analysis.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    sga = SpacegroupAnalyzer(bulk, symprec=symprec)
    conv = sga.get_conventional_standard_structure()
    ds = SpacegroupAnalyzer(conv, symprec=0.01).get_symmetry_dataset()  # what SlabGenerator would use
    conv.add_site_property("bulk_wyckoff", list(ds.wyckoffs))
    conv.add_site_property("bulk_equivalent", ds.equivalent_atoms.tolist())
    return conv, sga.get_space_group_symbol(), sga.get_space_group_number()


def slabs_for_miller(
    conv: Structure, miller: tuple[int, int, int], cfg: SlabConfig
) -> tuple[list, list[dict]]:
    """Symmetric slabs of one facet (all terminations), and error rows for lost terminations.

    ``conv``: the conventional cell of :func:`conventional_cell`; ``miller``: the facet's (h k l);
    ``cfg``: how slabs are cut.
    """
    with warnings.catch_warnings(), private.fast_primitive():
        warnings.simplefilter("ignore")
        return _slabs_for_miller(conv, miller, cfg)


def _slabs_for_miller(
    conv: Structure, miller: tuple[int, int, int], cfg: SlabConfig
) -> tuple[list, list[dict]]:
    from .generator import FastSlabGenerator  # imports pymatgen's surface module

    gen = FastSlabGenerator(
        conv,
        miller,
        cfg.min_slab_size_A,
        cfg.min_vacuum_size_A,
        center_slab=cfg.center,
        primitive=cfg.primitive,
    )
    gen.symprec, gen.lost = cfg.slab_symprec, []
    slabs = gen.get_slabs(tol=cfg.tol, ftol=cfg.ftol, symmetrize=cfg.symmetrize)
    still_lost, n_recovered = [], 0
    for lost in list(gen.lost):
        recovered = _retry_thicker(gen, lost, cfg)
        if recovered:
            slabs.extend(recovered)
            n_recovered += len(recovered)
        else:
            still_lost.append(lost)
    if n_recovered:
        slabs = [g[0] for g in group_slabs(slabs, cfg.tol)]
    slabs.sort(key=lambda s: (s.shift, len(s)))
    mirrored, errors = _mirrored_terminations(gen, conv, miller, still_lost, slabs, cfg)
    return slabs + mirrored, errors


def _retry_thicker(gen: FastSlabGenerator, lost: Slab, cfg: SlabConfig) -> list:
    """Symmetric slabs of a lost termination cut thicker (``cfg.retry_thickness_factors``): a
    thicker slab leaves room to symmetrise. Empty if none works."""
    recovered = []
    for factor in cfg.retry_thickness_factors:
        gen.lost = []
        recovered = gen.symmetric_slabs(
            gen.slab_at(lost.shift, cfg.tol, cfg.min_slab_size_A * factor), cfg.tol
        )
        if recovered:
            break
    return recovered


def _mirrored_terminations(
    gen: FastSlabGenerator,
    conv: Structure,
    miller: tuple[int, int, int],
    lost: list,
    slabs: list,
    cfg: SlabConfig,
) -> tuple[list, list[dict]]:
    """Terminations that pymatgen's symmetrisation lost. Along a polar direction no symmetric slab
    can exist, so each gets its asymmetric slab (:func:`_asymmetric_slab`); otherwise each is
    rebuilt with the same plane on both faces (:meth:`FastSlabGenerator.mirrored_slab`), or gets
    an error row with a physical reason. New distinct slabs, sorted by shift, are numbered after
    the others; one that matches a slab already found adds nothing: that termination is there."""
    if not lost:
        return [], []
    if not reverses_normal(conv, miller, cfg.bulk_symprec):
        candidates, errors = [_asymmetric_slab(gen, conv, miller, slab, cfg) for slab in lost], []
    else:
        rebuilt = [
            (slab, gen.mirrored_slab(slab.shift, cfg.tol, cfg.min_slab_size_A, cfg.ftol)) for slab in lost
        ]
        candidates = [m for _, m in rebuilt if m is not None]
        errors = [
            {"stage": "slabs", "reason": lost_reason(conv, miller, slab, cfg, polar=False)}
            for slab, m in rebuilt
            if m is None
        ]
    new = []
    for slab in candidates:
        if not matches_any(slab, [*slabs, *new], cfg.tol):
            new.append(slab)
    new.sort(key=lambda s: (s.shift, len(s)))
    return new, errors


def _asymmetric_slab(
    gen: FastSlabGenerator, conv: Structure, miller: tuple[int, int, int], lost: Slab, cfg: SlabConfig
) -> Slab:
    """The plain (unsymmetrised) slab of a termination along a polar direction, as pymatgen cuts
    it: its two faces are different surfaces, so its surface energy is their mean — the quantity
    an asymmetric slab defines without chemical potentials, and the one a Wulff shape on the
    (centrosymmetric) lattice point group uses for the (h k l)/(-h -k -l) pair. The slab carries
    ``asymmetry_note``, the physical sentence of why it is not symmetric."""
    slab = gen.slab_at(lost.shift, cfg.tol, cfg.min_slab_size_A)
    hkl = f"({' '.join(map(str, miller))})"
    slab.asymmetry_note = (
        f"{hkl} termination at shift {slab.shift:.4f}: {hkl} is a polar direction of this crystal "
        f"(no symmetry of the bulk reverses it), so the two faces of a slab are different surfaces "
        f"(here {_faces(slab, cfg.ftol)}) and no symmetric slab exists; this asymmetric slab "
        "stands in, and its surface energy is the mean of its two faces"
    )
    return slab


def reverses_normal(
    conv: Structure, miller: tuple[int, int, int], symprec: float = SlabConfig.bulk_symprec
) -> bool:
    """Does a point operation of the bulk map the (h k l) normal onto its opposite?

    ``conv``: the conventional cell; ``miller``: the (h k l) of the normal; ``symprec``: the
    spglib symmetry tolerance (Å).
    """
    import spglib

    lattice = np.asarray(conv.lattice.matrix)
    ds = spglib.get_symmetry_dataset((lattice, conv.frac_coords, conv.atomic_numbers), symprec=symprec)
    normal = np.asarray(miller, dtype=float) @ np.linalg.inv(lattice).T
    # fractional rotation R acts on fractional columns; on Cartesian vectors it is L^T R L^-T
    cart = np.einsum("ij,njk,kl->nil", lattice.T, ds.rotations, np.linalg.inv(lattice.T))
    return bool(np.any(np.all(np.abs(cart @ normal + normal) < 1e-3 * np.linalg.norm(normal), axis=1)))


def _face(slab: Slab, top: bool, ftol: float) -> str:
    """Composition of the outermost atomic plane (heights within ``ftol`` Å) of one face."""
    from semcgcnn.geometry import heights_along_normal

    z, _ = heights_along_normal(slab.lattice.matrix, slab.frac_coords)
    edge = z.max() if top else z.min()
    species = [site.specie.symbol for site, zi in zip(slab, z, strict=False) if abs(zi - edge) <= ftol]
    return "".join(f"{el}{species.count(el) if species.count(el) > 1 else ''}" for el in sorted(set(species)))


def _faces(slab: Slab, ftol: float) -> str:
    """The two outermost planes in words, e.g. "Mg vs Se" or "both Mg3, stacked differently beneath"."""
    bottom, top = _face(slab, False, ftol), _face(slab, True, ftol)
    return f"{bottom} vs {top}" if bottom != top else f"both {bottom}, stacked differently beneath"


def lost_reason(
    conv: Structure, miller: tuple[int, int, int], slab: Slab, cfg: SlabConfig, polar: bool | None = None
) -> str:
    """One physical sentence: why no symmetric slab has this termination on both faces
    (``conv``: the conventional cell; ``miller``: the facet's (h k l); ``slab``: the unsymmetrised
    slab of the lost termination; ``cfg``: how slabs are cut; ``polar``: whether (h k l) is a
    polar direction, computed if not given)."""
    hkl = f"({' '.join(map(str, miller))})"
    faces = _faces(slab, cfg.ftol)
    if polar is None:
        polar = not reverses_normal(conv, miller, cfg.bulk_symprec)
    if polar:
        return (
            f"{hkl} termination at shift {slab.shift:.4f}: {hkl} is a polar direction of this crystal "
            f"(no symmetry of the bulk reverses it), so a slab's two faces are different surfaces "
            f"(here {faces}), and no symmetric slab has this termination on both sides"
        )
    return (
        f"{hkl} termination at shift {slab.shift:.4f}: no symmetry of the bulk maps this atomic plane onto "
        f"a plane that could be the top face within {cfg.slab_symprec} Å (here {faces}), "
        f"so no symmetric slab has this termination on both sides"
    )


def compound_slabs(compound_id: str, bulk: Structure, cfg: SlabConfig | None = None) -> SlabResult:
    """All symmetric slabs of every distinct Miller index (max index ``cfg.max_index``).

    ``compound_id``: the id the rows carry; ``bulk``: the bulk structure; ``cfg``: how slabs are cut
    (default ``SlabConfig()``).
    """
    cfg = SlabConfig() if cfg is None else cfg
    from pymatgen.core.surface import get_symmetrically_distinct_miller_indices

    res = SlabResult(compound_id)
    try:
        conv, res.spacegroup_symbol, res.spacegroup_number = conventional_cell(bulk, cfg.bulk_symprec)
        millers = get_symmetrically_distinct_miller_indices(conv, cfg.max_index)
    except Exception as exc:  # noqa: BLE001 - a bad structure becomes an error row
        res.errors.append({"stage": "slabs", "id": compound_id, "reason": f"symmetry analysis failed: {exc}"})
        return res
    res.n_miller = len(millers)
    res.lattice = np.asarray(conv.lattice.matrix, dtype=np.float64).tolist()
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
