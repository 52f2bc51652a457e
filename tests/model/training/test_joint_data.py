"""The joint training set: the leakage-free grouped split over every slab dataset, the training
bundle, GradNorm on partly labelled batches, and what a card records of its training."""

from __future__ import annotations

import numpy as np
import pytest
import torch


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
        for name in ("atom_fea", "edge_center", "edge_nbr", "edge_weight", "uniq_dist", "edge_local"):
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


def test_the_card_records_the_evaluation_of_its_own_readout(tmp_path):
    """``semcgcnn ship --results-dir`` copies test metrics into the card: those of the recipe with
    the shipped model's readout, never the other readout's or another variant's."""
    import json

    from semcgcnn.model.training.recipes import recorded_evaluation

    for name, readout, mae in (
        ("joint+desc+mp-seed0", "paper", 0.1),
        ("joint+desc+mp-rosurface-seed0", "surface", 0.2),
        ("joint+desc+mp-h64-seed0", "paper", 0.3),
    ):
        p = tmp_path / "150ep" / "grouped" / f"{name}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(
            json.dumps(
                {
                    "split": "grouped",
                    "seed": 0,
                    "train_config": {"epochs": 150},
                    "model_config": {"readout": readout},
                    "test": {"surface_energy": {"mae": mae}},
                }
            )
        )
    assert recorded_evaluation(tmp_path, "joint+desc+mp", "paper") == {
        "grouped_150ep_seed0": {"surface_energy": {"mae": 0.1}}
    }
    assert recorded_evaluation(tmp_path, "joint+desc+mp", "surface") == {
        "grouped_150ep_seed0": {"surface_energy": {"mae": 0.2}}
    }


def test_training_elements_are_those_of_the_chosen_rows(mg_small):
    """The card's ``training_elements``: the elements of the graph rows a model was trained on."""
    from semcgcnn.model.training.data import training_elements

    data, groups = mg_small
    rows = np.flatnonzero(groups == groups[0])  # every slab of one Mg–X system
    assert training_elements(data, rows) == sorted(groups[0].split("-"))
    everything = training_elements(data)
    assert set(everything) == {e for g in groups for e in g.split("-")} and everything == sorted(everything)
