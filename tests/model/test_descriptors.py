"""Element descriptors, the joint training set and the leakage-free grouped split."""

from __future__ import annotations

import numpy as np
import pytest
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
    from semcgcnn.model.training.recipes import split_rows
    from semcgcnn.model.training.splits import make_split

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
    # the shipped model's split: no test, whole Mg–X systems (≈ 10 % of the Mg rows) for validation
    tr, va, te = split_rows(frame, "all-systems", 0)
    n_mg = int((frame["source"] == "mg_binary_slabs").sum())
    assert len(te) == 0 and 0.05 * n_mg <= len(va) <= 0.12 * n_mg
    assert (frame["source"].to_numpy()[va] == "mg_binary_slabs").all()
    assert not set(chem[tr]) & set(chem[va]) and len(set(chem[va])) >= 2
    # every row of a validation system is a validation row or dropped (an other dataset's row of
    # that system), never trained on; training plus the rows of validation systems are all rows
    of_val_systems = np.flatnonzero(np.isin(chem, list(set(chem[va]))))
    assert set(va) <= set(of_val_systems) and not set(of_val_systems) & set(tr)
    dropped = np.setdiff1d(of_val_systems, va)
    assert (frame["source"].to_numpy()[dropped] != "mg_binary_slabs").all()
    assert len(tr) + len(of_val_systems) == len(frame)
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, of_val_systems])), np.arange(len(frame)))
    # the shipped selection judged on the grouped test systems: same test rows, random validation rows
    tr, va, te = split_rows(frame, "grouped-randval", 0)
    np.testing.assert_array_equal(te, t1[2])
    assert not (set(chem[tr]) | set(chem[va])) & set(chem[te])
    assert len(set(chem[va])) > 20 and abs(len(va) - 0.1 * (len(tr) + len(va))) <= 1


def test_gradnorm_waits_for_a_task_missing_from_the_first_batch():
    from semcgcnn.model.training.gradnorm import GradNorm

    gn = GradNorm(2, alpha=1.5, lr=0.025)
    gn.update(torch.tensor([0.8, 0.0]), torch.tensor([1.0, 0.0]))  # WF unlabelled in batch 1
    assert torch.isfinite(gn.weights).all() and torch.allclose(gn.initial_losses, torch.tensor([0.8, 0.0]))
    gn.update(torch.tensor([0.7, 0.5]), torch.tensor([1.0, 1.0]))
    assert torch.allclose(gn.initial_losses, torch.tensor([0.8, 0.5]))  # L(0) of WF taken at its first label
    assert torch.isfinite(gn.weights).all() and abs(float(gn.weights.sum()) - 2.0) < 1e-6


def test_element_symbols_match_pymatgen():
    from pymatgen.core import Element

    from semcgcnn.model.atom_features import ELEMENT_SYMBOLS

    assert len(ELEMENT_SYMBOLS) == 119
    assert all(ELEMENT_SYMBOLS[z] == Element.from_Z(z).symbol for z in range(1, 119))


def test_training_bundle_gives_the_same_tensors(tmp_path):
    """A GPU machine trains from the bundle: it must hold exactly what the datasets give."""
    from semcgcnn.model.training.data import SLAB_DATASETS, load_slab_tensors, save_training_bundle

    path = save_training_bundle(tmp_path / "b.npz")
    assert path.stat().st_size < 12e6
    for datasets in (SLAB_DATASETS, ("mg_binary_slabs",), ("palizhati_slabs", "elemental_slabs")):
        kind = "imputed" if datasets == SLAB_DATASETS else "elemental"
        a, fa = load_slab_tensors(datasets, descriptors=kind)
        b, fb = load_slab_tensors(datasets, descriptors=kind, bundle=path)
        assert fa.equals(fb) and len(fb) == len(a)
        for name in ("atom_fea", "nbr_idx", "uniq_dist", "edge_local"):
            assert torch.equal(getattr(a, name), getattr(b, name)), name
        assert torch.equal(torch.nan_to_num(a.y, -1.0), torch.nan_to_num(b.y, -1.0))
        np.testing.assert_array_equal(a.descriptor_table, b.descriptor_table)
    assert list(dict.fromkeys(fb["source"])) == ["palizhati_slabs", "elemental_slabs"]  # order kept
    a, _ = load_slab_tensors(("elemental_slabs",), descriptors="moduli")
    b, _ = load_slab_tensors(("elemental_slabs",), descriptors="moduli", bundle=path)
    np.testing.assert_array_equal(a.descriptor_table, b.descriptor_table)
    old = tmp_path / "old.npz"  # a bundle written before the moduli set existed
    with np.load(path) as z:
        np.savez(old, **{k: z[k] for k in z.files if k != "descriptors_moduli"})
    with pytest.raises(ValueError, match="predates descriptor set 'moduli'"):
        load_slab_tensors(("elemental_slabs",), descriptors="moduli", bundle=old)


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


def test_hyper_parameter_variants_are_named_in_the_result_file():
    from semcgcnn.model.config import GraphConfig, ModelConfig, TrainConfig
    from generalise import variant_tag  # studies/generalise.py

    assert variant_tag(TrainConfig(), ModelConfig(), GraphConfig()) == ""  # the paper's settings: no tag
    tag = variant_tag(TrainConfig(batch_size=32, lr=5e-4), ModelConfig(h_fea_len=64, surface_pool=True),
                      GraphConfig(surface_depth=3.0))
    assert tag == "-bs32-lr0.0005-h64-sd3-spool"
    from shipped_report import describe_variant  # studies/shipped_report.py

    assert describe_variant(tag) == ("batch size 32, learning rate 0.0005, heads' hidden width 64, "
                                     "surface atoms within 3 Å, heads also read the surface atoms' mean")
    surface = variant_tag(TrainConfig(), ModelConfig(readout="surface"), GraphConfig())
    assert surface == "-rosurface" and describe_variant(surface) == "surface readout"


def test_the_card_records_the_evaluation_of_its_own_readout(tmp_path):
    """``semcgcnn ship --results-dir`` copies test metrics into the card: those of the recipe with
    the shipped model's readout, never the other readout's or another variant's."""
    import json

    from semcgcnn.model.training.recipes import recorded_evaluation

    for name, readout, mae in (("joint+desc+mp-seed0", "paper", 0.1), ("joint+desc+mp-rosurface-seed0", "surface", 0.2),
                               ("joint+desc+mp-h64-seed0", "paper", 0.3)):
        p = tmp_path / "150ep" / "grouped" / f"{name}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"split": "grouped", "seed": 0, "train_config": {"epochs": 150},
                                 "model_config": {"readout": readout}, "test": {"surface_energy": {"mae": mae}}}))
    assert recorded_evaluation(tmp_path, "joint+desc+mp", "paper") == {"grouped_150ep_seed0": {"surface_energy": {"mae": 0.1}}}
    assert recorded_evaluation(tmp_path, "joint+desc+mp", "surface") == {"grouped_150ep_seed0": {"surface_energy": {"mae": 0.2}}}


def test_element_descriptors_alone_miss_boron_by_far():
    """The leave-one-system-out descriptor fit in the report: B–Mg (no elemental boron slab, SE
    estimated from the melting point) sits far above the line, which bounds the grouped split."""
    from shipped_report import system_mean_descriptor_fit  # studies/shipped_report.py

    g = system_mean_descriptor_fit().set_index("chemsys")
    assert len(g) == 43
    assert g.loc["B-Mg", "x_se_estimated"] and not g.loc["Mg-Zn", "x_se_estimated"]
    assert g.loc["B-Mg", "error"] < -0.06
    assert 0.012 < g["error"].abs().mean() < 0.017
    # the stiffness of the system's compounds places boron: a linear fit with G misses it by < 0.01
    assert g["error_with_G"].notna().sum() == 41
    assert abs(g.loc["B-Mg", "error_with_G"]) < 0.01 and g["error_with_G"].abs().mean() < 0.0100


def test_moduli_descriptors_add_the_stiffness_of_mg_compounds():
    """The ``moduli`` set: ``imputed`` plus the median shear modulus of X's bundled Mg compounds,
    which is what separates the stiff Mg–B and Mg–Be systems from soft Mg–Zn."""
    from semcgcnn.model.descriptors import (descriptor_names, element_descriptor_table,
                                            mg_compound_shear_modulus)

    g = mg_compound_shear_modulus()
    assert np.isfinite(g).sum() == 71  # 70 partners X + Mg itself
    assert 100 < g[5] < 130 and 100 < g[4] < 110  # B, Be (GPa)
    assert 25 < g[30] < 35 and 15 < g[12] < 30  # Zn; Mg: median over all 210 compounds
    assert np.isnan(g[26])  # no Fe–Mg compound bundled
    t, imputed = element_descriptor_table("moduli"), element_descriptor_table("imputed")
    assert t.shape == (119, len(descriptor_names("moduli"))) == (119, 5)
    np.testing.assert_array_equal(t[:, :3], imputed)
    assert t[5, 3] > 3 and t[4, 3] > 3 and t[26, 3] == 0 and t[26, 4] == 1 and t[5, 4] == 0


def test_training_elements_are_those_of_the_chosen_rows(mg_small):
    """The card's ``training_elements``: the elements of the graph rows a model was trained on."""
    from semcgcnn.model.training.data import training_elements

    data, groups = mg_small
    rows = np.flatnonzero(groups == groups[0])  # every slab of one Mg–X system
    assert training_elements(data, rows) == sorted(groups[0].split("-"))
    everything = training_elements(data)
    assert set(everything) == {e for g in groups for e in g.split("-")} and everything == sorted(everything)
