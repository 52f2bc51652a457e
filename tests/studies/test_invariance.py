"""The shipped model predicts properties of the surface, not of the cell that holds it.

Real slabs of hcp Mg (0001), fcc Al (111) and B2 MgAg (110) (the shipped bulk set's mp-2696), cut
by pymatgen's own ``SlabGenerator`` (the structures of ``studies/readout.py``): thicker slabs
converge, and the same slab with more vacuum, shifted along c, wrapped across the periodic
boundary or repeated in plane predicts the same surface energy and work function.
"""

from __future__ import annotations

import numpy as np
import pytest

from readout import SURFACES, cell_variants, symmetric_slab
from semcgcnn.model.predict import load_pretrained

SE, WF = "surface_energy_eV_per_A2", "work_function_eV"


@pytest.fixture(scope="module")
def predictor():
    return load_pretrained()


def test_the_shipped_model_uses_the_thickness_invariant_readout(predictor):
    assert predictor.checkpoint.model.cfg.readout == "surface"


@pytest.mark.parametrize("name", list(SURFACES))
def test_thicker_slabs_converge(predictor, name):
    make, hkl, planes, _ = SURFACES[name]
    bulk = make()
    slabs = [symmetric_slab(bulk, hkl, n) for n in planes]
    assert len({len(s) for s in slabs}) == len(slabs)  # really thicker, atom by atom
    df = predictor.predict(slabs)
    se, wf = df[SE].to_numpy()[-3:], df[WF].to_numpy()[-3:]
    assert np.all(se > 0)
    assert (se.max() - se.min()) / se.mean() <= 0.03, (name, df[SE].tolist())
    assert wf.max() - wf.min() <= 0.05, (name, df[WF].tolist())


@pytest.mark.parametrize("name", list(SURFACES))
def test_vacuum_shift_wrap_and_supercell_change_nothing(predictor, name):
    make, hkl, planes, _ = SURFACES[name]
    bulk = make()
    base = symmetric_slab(bulk, hkl, planes[2], vacuum=10.0)
    others = {"20 A of vacuum": symmetric_slab(bulk, hkl, planes[2], vacuum=20.0), **cell_variants(base)}
    assert abs(others["20 A of vacuum"].lattice.c - base.lattice.c) > 5.0
    heights = np.mod(others["wrapped across the boundary"].frac_coords[:, 2], 1.0)
    assert heights.min() < 0.2 and heights.max() > 0.8  # really split by the boundary
    df = predictor.predict([base, *others.values()], ids=["10 A of vacuum", *others])
    for col in (SE, WF):
        np.testing.assert_allclose(df[col].to_numpy(), df[col].iloc[0], rtol=1e-4,
                                   err_msg=f"{name} {col}: {df[col].tolist()}")
