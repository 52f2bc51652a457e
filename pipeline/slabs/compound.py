"""All symmetric slabs of one compound: conventional cell, distinct Miller indices, every
termination, lost terminations retried thicker or reported as error rows."""

from __future__ import annotations

import warnings

import numpy as np

from . import _pymatgen_private as private
from .config import SlabConfig, SlabResult
from .matching import group_slabs
from .rows import slab_row


def conventional_cell(bulk, symprec: float = SlabConfig.bulk_symprec):
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
    with warnings.catch_warnings(), private.fast_primitive():
        warnings.simplefilter("ignore")
        return _slabs_for_miller(conv, miller, cfg)


def _slabs_for_miller(conv, miller: tuple[int, int, int], cfg: SlabConfig) -> tuple[list, list[dict]]:
    from .generator import FastSlabGenerator  # imports pymatgen's surface module

    gen = FastSlabGenerator(
        conv, miller, cfg.min_slab_size_A, cfg.min_vacuum_size_A, center_slab=cfg.center, primitive=cfg.primitive
    )
    gen.symprec, gen.lost = cfg.slab_symprec, []
    slabs = gen.get_slabs(tol=cfg.tol, ftol=cfg.ftol, symmetrize=cfg.symmetrize)
    errors, n_recovered = [], 0
    for lost in list(gen.lost):
        recovered = _retry_thicker(gen, lost, cfg)
        if recovered:
            slabs.extend(recovered)
            n_recovered += len(recovered)
        else:
            errors.append({"stage": "slabs", "reason": _lost_reason(miller, lost.shift, cfg)})
    if n_recovered:
        slabs = [g[0] for g in group_slabs(slabs, cfg.tol)]
    slabs.sort(key=lambda s: (s.shift, len(s)))
    return slabs, errors


def _retry_thicker(gen, lost, cfg: SlabConfig) -> list:
    """Symmetric slabs of a lost termination cut thicker (``cfg.retry_thickness_factors``): a
    thicker slab leaves room to symmetrise. Empty if none works."""
    recovered = []
    for factor in cfg.retry_thickness_factors:
        gen.lost = []
        recovered = gen.symmetric_slabs(gen.slab_at(lost.shift, cfg.tol, cfg.min_slab_size_A * factor), cfg.tol)
        if recovered:
            break
    return recovered


def _lost_reason(miller, shift: float, cfg: SlabConfig) -> str:
    thickest = cfg.min_slab_size_A * max(cfg.retry_thickness_factors, default=1.0)
    return (f"({' '.join(map(str, miller))}) termination at shift {shift:.4f}: no symmetric "
            f"slab before too many sites were removed (pymatgen symmetrize), up to {thickest:.0f} Å")


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

