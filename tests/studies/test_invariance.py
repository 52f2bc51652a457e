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
    """What the shipped model predicts is the surface readout, recomputed by hand from every
    member's atom states on the three real slabs: γ = Σ ε_i / 2A over the surface atoms with
    ε_i = (μ + σ h(x_i)) / ρ_ref, Φ the mean of the two faces' heads; the members' centre is the
    prediction."""
    import torch

    from semcgcnn.model.config import SURFACE_DENSITY_REF
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.featurize import BOTTOM, TOP
    from semcgcnn.model.graphs import featurize_structures

    slabs = [symmetric_slab(make(), hkl, planes[2]) for make, hkl, planes, _ in SURFACES.values()]
    graphs = featurize_structures(slabs, config=predictor.graph_config)
    data = GraphTensors(graphs, descriptors=predictor.descriptors)
    b = data.batch(np.arange(len(data)))
    by_hand = []
    with torch.no_grad():
        for member in predictor.members:
            m, tasks = member.model, list(member.tasks)
            x = m.atom_states(*b.inputs()[:3])
            mean, std = m.target_mean.double(), m.target_std.double()
            k_se, k_wf = tasks.index("surface_energy"), tasks.index("work_function")
            rows = []
            for g in range(b.n_graphs):
                on = b.batch == g
                h = m.heads["surface_energy"](x[on & (b.side > 0)]).squeeze(1).double()
                gamma = ((mean[k_se] + std[k_se] * h) / SURFACE_DENSITY_REF).sum() / (2 * float(b.area[g]))
                faces = [
                    m.heads["work_function"](x[on & ((b.side & bit) > 0)].mean(0)).double()
                    for bit in (BOTTOM, TOP)
                ]
                out = np.zeros(len(tasks))
                out[k_se] = float((gamma - mean[k_se]) / std[k_se])
                out[k_wf] = float(0.5 * (faces[0] + faces[1]))
                rows.append(out)
            by_hand.append(member.normalizer.denorm(np.array(rows)))
    expected = predictor.central(np.stack(by_hand))
    df = predictor.predict(slabs)
    tasks = list(predictor.checkpoint.tasks)
    np.testing.assert_allclose(df[SE], expected[:, tasks.index("surface_energy")], rtol=1e-5)
    np.testing.assert_allclose(df[WF], expected[:, tasks.index("work_function")], rtol=1e-5)


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
        np.testing.assert_allclose(
            df[col].to_numpy(), df[col].iloc[0], rtol=1e-4, err_msg=f"{name} {col}: {df[col].tolist()}"
        )
