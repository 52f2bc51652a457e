"""Element descriptors: the elemental DFT values, the melting-point estimate where a slab is
missing, the Mg-compound stiffness, and the input columns they add."""

from __future__ import annotations

import numpy as np
import torch


def test_descriptors_are_the_elemental_dft_values():
    from pymatgen.core import Element

    from semcgcnn.datasets import labels
    from semcgcnn.model.descriptors import element_descriptor_table, raw_element_descriptors

    el = labels("elemental_slabs")
    raw = raw_element_descriptors()
    mg = el[el["element"] == "Mg"]
    assert raw["elemental_min_surface_energy"][12] == mg["surface_energy_eV_per_A2"].min()
    assert raw["elemental_work_function"][12] == mg["work_function_eV"].median()
    # Ge has no elemental slab: its WF comes from the reference table, its SE is imputed and flagged
    assert np.isnan(raw["elemental_min_surface_energy"][Element("Ge").Z])
    assert np.isfinite(raw["elemental_work_function"][Element("Ge").Z])
    t = element_descriptor_table()
    assert t.shape == (119, 3) and t[Element("Ge").Z, 2] == 1.0 and t[12, 2] == 0.0
    se = raw["elemental_min_surface_energy"]
    ok = np.isfinite(se)
    np.testing.assert_allclose(t[12, 0], (se[12] - se[ok].mean()) / se[ok].std(), rtol=1e-5)
    # Pt surfaces are harder than Mg surfaces, and the descriptor says so
    assert t[Element("Pt").Z, 0] > t[12, 0] + 1.0


def test_descriptor_columns_follow_the_surface_flag(mg_small):
    from semcgcnn.model.config import ModelConfig
    from semcgcnn.model.network import SEMCGCNN

    cfg = ModelConfig(n_descriptors=3, surface_flag=False)
    assert cfg.input_columns() == [*range(92), 93, 94, 95] and cfg.n_inputs == 95
    torch.manual_seed(0)
    model = SEMCGCNN(cfg).eval()
    assert model.embedding.in_features == 95
    assert "input_cols" not in model.state_dict()  # checkpoints carry weights only


def test_element_symbols_match_pymatgen():
    from pymatgen.core import Element

    from semcgcnn.model.atom_features import ELEMENT_SYMBOLS

    assert len(ELEMENT_SYMBOLS) == 119
    assert all(ELEMENT_SYMBOLS[z] == Element.from_Z(z).symbol for z in range(1, 119))


def test_missing_elemental_surface_energy_is_imputed_from_the_melting_point():
    from pymatgen.core import Element

    from semcgcnn.model.descriptors import element_descriptor_table, melting_points, raw_element_descriptors

    se = raw_element_descriptors()["elemental_min_surface_energy"]
    mp = melting_points()
    assert mp[12] == 923.0 and np.isnan(se[5])  # Mg melts at 923 K; boron has no elemental slab
    have = np.isfinite(se) & np.isfinite(mp)
    assert have.sum() >= 40 and np.corrcoef(se[have], mp[have])[0, 1] > 0.8
    plain, imputed = element_descriptor_table("elemental"), element_descriptor_table("imputed")
    np.testing.assert_array_equal(plain[:, 1:], imputed[:, 1:])  # WF and the no-slab flag unchanged
    b, mg, pt = Element("B").Z, 12, Element("Pt").Z
    assert plain[b, 0] == 0.0 and imputed[b, 2] == 1.0
    # boron melts at 2349 K: its imputed SE sits far above magnesium's, near the refractory metals
    assert imputed[b, 0] > imputed[mg, 0] + 1.0 and imputed[b, 0] > 0.5 * imputed[pt, 0]
    # an element with elemental slabs keeps its order relative to the others
    assert np.argsort(imputed[have, 0]).tolist() == np.argsort(plain[have, 0]).tolist()


def test_moduli_descriptors_add_the_stiffness_of_mg_compounds():
    """The ``moduli`` set: ``imputed`` plus the median shear modulus of X's bundled Mg compounds,
    which is what separates the stiff Mg–B and Mg–Be systems from soft Mg–Zn."""
    from semcgcnn.model.descriptors import (
        descriptor_names,
        element_descriptor_table,
        mg_compound_shear_modulus,
    )

    g = mg_compound_shear_modulus()
    assert np.isfinite(g).sum() == 71  # 70 partners X + Mg itself
    assert 100 < g[5] < 130 and 100 < g[4] < 110  # B, Be (GPa)
    assert 25 < g[30] < 35 and 15 < g[12] < 30  # Zn; Mg: median over all 210 compounds
    assert np.isnan(g[26])  # no Fe–Mg compound bundled
    t, imputed = element_descriptor_table("moduli"), element_descriptor_table("imputed")
    assert t.shape == (119, len(descriptor_names("moduli"))) == (119, 5)
    np.testing.assert_array_equal(t[:, :3], imputed)
    assert t[5, 3] > 3 and t[4, 3] > 3 and t[26, 3] == 0 and t[26, 4] == 1 and t[5, 4] == 0
