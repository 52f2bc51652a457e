"""Element descriptors, the joint training set and the leakage-free grouped split."""

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


def test_grouped_split_holds_whole_systems_out_of_every_dataset():
    import pandas as pd

    from semcgcnn.datasets import labels
    from semcgcnn.model.generalise import split_rows
    from semcgcnn.model.splits import make_split

    frames = []
    for name in ("mg_binary_slabs", "elemental_slabs", "palizhati_slabs"):
        df = labels(name)
        frames.append(pd.DataFrame({"source": name, "chemsys": df["chemsys"]}))
    frame = pd.concat(frames, ignore_index=True)
    tr, va, te = split_rows(frame, "grouped", 0)
    chem = frame["chemsys"].to_numpy()
    assert not set(chem[tr]) & (set(chem[te]) | set(chem[va]))
    assert (frame["source"].to_numpy()[np.concatenate([va, te])] == "mg_binary_slabs").all()
    # the Mg rows are split exactly as Table 1's grouped split
    mg = labels("mg_binary_slabs")
    t1 = make_split("grouped", len(mg), mg["chemsys"].to_numpy(), 0)
    np.testing.assert_array_equal(te, t1[2])
    # the elemental slabs (descriptor source, other chemical systems) all stay in training
    elem_rows = np.flatnonzero(frame["source"].to_numpy() == "elemental_slabs")
    assert np.isin(elem_rows, tr).all()
    assert len(set(tr) | set(va) | set(te)) == len(tr) + len(va) + len(te)


def test_gradnorm_waits_for_a_task_missing_from_the_first_batch():
    from semcgcnn.model.gradnorm import GradNorm

    gn = GradNorm(2, alpha=1.5, lr=0.025)
    gn.update(torch.tensor([0.8, 0.0]), torch.tensor([1.0, 0.0]))  # WF unlabelled in batch 1
    assert torch.isfinite(gn.weights).all() and torch.allclose(gn.initial_losses, torch.tensor([0.8, 0.0]))
    gn.update(torch.tensor([0.7, 0.5]), torch.tensor([1.0, 1.0]))
    assert torch.allclose(gn.initial_losses, torch.tensor([0.8, 0.5]))  # L(0) of WF taken at its first label
    assert torch.isfinite(gn.weights).all() and abs(float(gn.weights.sum()) - 2.0) < 1e-6
