"""Wulff weighting checked by hand on the shipped DFT surface energies and work functions of hcp Mg."""

from __future__ import annotations

import math
import re

import pytest


@pytest.fixture(scope="module")
def mg_dft():
    """The 12 hcp-Mg facets of the Materials Project (Tran et al.) with their DFT γ and Φ."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from semcgcnn.datasets import labels, load

    (rec,) = [r for r in load("elemental_refs") if r.structure_id == "Mg-3"]  # hcp, P6_3/mmc
    conv = SpacegroupAnalyzer(rec.structure, symprec=0.1).get_conventional_standard_structure()
    df = labels("elemental_slabs")
    hcp = df[(df["element"] == "Mg") & df["miller_kind"].str.startswith("hexagonal")]
    rows = []
    for r in hcp.itertuples():
        h, k, i, l = (int(x) for x in re.findall(r"-?\d", r.miller_index_label))  # hkil, e.g. 2-1-12
        assert i == -h - k
        rows.append({"miller_h": h, "miller_k": k, "miller_l": l, "slab_id": r.structure_id,
                     "surface_energy_eV_per_A2": r.surface_energy_eV_per_A2, "work_function_eV": r.work_function_eV})
    assert len(rows) == 12
    return conv.lattice, rows


def test_weighted_values_equal_a_hand_calculation_from_pymatgen_area_fractions(mg_dft):
    from pymatgen.analysis.wulff import WulffShape

    from semcgcnn.datasets import EV_PER_A2_TO_J_PER_M2
    from semcgcnn.pipeline.wulff import lowest_per_facet, wulff

    lattice, rows = mg_dft
    facets = lowest_per_facet(rows)
    res = wulff(lattice, facets)

    # by hand: pymatgen's own area fractions, then Σ γ_i f_i and Σ φ_i f_i over the 12 facets
    shape = WulffShape(lattice, [tuple(f.miller) for f in facets], [f.surface_energy_eV_per_A2 for f in facets])
    frac = shape.area_fraction_dict
    gamma = sum(f.surface_energy_eV_per_A2 * frac[f.miller] for f in facets)
    phi = sum(f.work_function_eV * frac[f.miller] for f in facets)
    assert math.isclose(sum(frac.values()), 1.0, rel_tol=1e-9)
    assert res.weighted_surface_energy_eV_per_A2 == pytest.approx(gamma, rel=1e-9)
    assert res.weighted_surface_energy_eV_per_A2 == pytest.approx(shape.weighted_surface_energy, rel=1e-9)
    assert res.weighted_surface_energy_J_per_m2 == pytest.approx(gamma * EV_PER_A2_TO_J_PER_M2, rel=1e-12)
    assert res.weighted_work_function_eV == pytest.approx(phi, rel=1e-9)

    # hcp Mg: basal (0001), prismatic (10-10) and pyramidal (10-11) facets make the whole shape
    on_shape = {f.miller: a for f, a in zip(facets, res.area_fractions, strict=True) if a > 0}
    assert set(on_shape) == {(0, 0, 1), (1, 0, 0), (1, 0, 1)}
    assert len(res.area_fractions) == 12 and res.area_fractions.count(0.0) == 9  # off-shape facets kept at 0
    assert 0.0318 < res.weighted_surface_energy_eV_per_A2 < 0.0395  # between the lowest and 3rd-lowest γ
    assert res.weighted_surface_energy_J_per_m2 == pytest.approx(0.590, abs=0.002)
    assert res.weighted_work_function_eV == pytest.approx(3.551, abs=0.001)
    assert res.shape_factor > 0 and res.anisotropy > 0


def test_lowest_energy_termination_per_facet_carries_its_own_work_function():
    from semcgcnn.pipeline.wulff import lowest_per_facet

    rows = [
        {"miller_h": 1, "miller_k": 0, "miller_l": 0, "slab_id": "a", "surface_energy_eV_per_A2": 0.05,
         "work_function_eV": 4.0},
        {"miller_h": 1, "miller_k": 0, "miller_l": 0, "slab_id": "b", "surface_energy_eV_per_A2": 0.04,
         "work_function_eV": 3.0},
        {"miller_h": 1, "miller_k": 1, "miller_l": 1, "slab_id": "c", "surface_energy_eV_per_A2": float("nan"),
         "work_function_eV": 3.5},
    ]
    (facet,) = lowest_per_facet(rows)
    assert (facet.miller, facet.slab_id, facet.work_function_eV) == ((1, 0, 0), "b", 3.0)


def test_no_facets_is_an_error_not_a_crash():
    from pymatgen.core import Lattice

    from semcgcnn.pipeline.wulff import wulff

    with pytest.raises(ValueError, match="no facet"):
        wulff(Lattice.cubic(3.0), [])


def test_non_positive_predicted_surface_energy_gets_no_wulff_shape():
    """The model can extrapolate γ below zero (e.g. out-of-domain Mg3Br); no Wulff shape from that."""
    from pymatgen.core import Lattice

    from semcgcnn.pipeline.wulff import Facet, wulff

    facets = [Facet((1, 0, 0), "a", 0.03, 4.0), Facet((1, 1, 0), "b", -0.003, 4.2), Facet((1, 1, 1), "c", 0.04, 4.1)]
    with pytest.raises(ValueError, match=r"≤ 0 .*\(1, 1, 0\)"):
        wulff(Lattice.cubic(3.0), facets)
    assert wulff(Lattice.cubic(3.0), [facets[0], facets[2]]).weighted_surface_energy_eV_per_A2 > 0
