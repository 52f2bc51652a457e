"""Issue #16 items 3 and 4: per-element errors of the split models (``studies/per_element.py``) and
the shipped model's element embeddings (``semcgcnn.model.embeddings``), on real data and weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import per_element
import torch

from semcgcnn.model.atom_features import ATOM_INIT, ELEMENT_SYMBOLS
from semcgcnn.model.checkpoint import SHIPPED_MODEL, load_checkpoint
from semcgcnn.model.embeddings import element_embeddings, embedding_correlation


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED_MODEL)


@pytest.fixture(scope="module")
def embeddings(shipped):
    return element_embeddings(shipped)


def test_embeddings_cover_the_training_elements_in_mendeleev_order(shipped, embeddings):
    from pymatgen.core import Element

    elements = shipped.card["training_elements"]
    assert embeddings.shape == (len(elements), shipped.model.cfg.atom_fea_len) == (64, 64)
    assert sorted(embeddings.index) == sorted(elements) and "Mg" in embeddings.index
    assert list(embeddings.columns) == [f"emb_{k}" for k in range(64)]
    numbers = [Element(s).mendeleev_no for s in embeddings.index]
    assert all(a <= b for a, b in zip(numbers, numbers[1:]))
    assert embeddings.index[0] == "Na" and embeddings.index[-1] == "H"  # pymatgen's Mendeleev numbers 11 and 103
    corr = embedding_correlation(embeddings)
    assert list(corr.index) == list(corr.columns) == list(embeddings.index)
    c = corr.to_numpy()
    np.testing.assert_allclose(c, c.T, atol=1e-12)
    np.testing.assert_allclose(np.diag(c), 1.0, atol=1e-12)
    assert corr.loc["Ho", "Er"] > 0.9 > corr.loc["Ho", "Se"]  # neighbouring lanthanoids against a chalcogen


def test_embedding_is_the_layer_applied_to_the_element_row(shipped, embeddings):
    """By hand (atom_init.json, the descriptor table, the layer's weights: W x + b) and through a
    real slab's featurized interior atoms (GraphTensors, as the network reads them)."""
    from semcgcnn.datasets import labels
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.graphs import dataset_graphs

    raw = json.loads(ATOM_INIT.read_text())
    w = shipped.model.embedding.weight.detach().double().numpy()
    b = shipped.model.embedding.bias.detach().double().numpy()
    for sym in ("Mg", "Zn", "Se", "Yb"):
        z = ELEMENT_SYMBOLS.index(sym)
        x = np.concatenate([raw[str(z)], [0.0], shipped.descriptor_table[z]])  # 92 + surface flag + 3
        np.testing.assert_allclose(embeddings.loc[sym].to_numpy(), w @ x + b, atol=1e-5)

    df = labels("mg_binary_slabs")
    rows = np.concatenate([np.flatnonzero(df["X_element"].to_numpy() == x)[:3] for x in ("Zn", "Se")])
    gs, _ = dataset_graphs("mg_binary_slabs")
    data = GraphTensors(gs.subset(rows), descriptors=shipped.descriptor_table)
    checked = set()
    with torch.no_grad():
        for sym in ("Mg", "Zn", "Se"):
            atoms = np.flatnonzero((data.atomic_numbers == ELEMENT_SYMBOLS.index(sym))
                                   & (data.atom_fea[:, 92].numpy() == 0))[:3]
            assert len(atoms), sym
            got = shipped.model.embedding(data.atom_fea[atoms].index_select(1, shipped.model.input_cols))
            for v in got.double().numpy():
                np.testing.assert_allclose(v, embeddings.loc[sym].to_numpy(), atol=1e-5)
            checked.add(sym)
    assert checked == {"Mg", "Zn", "Se"}


@pytest.fixture(scope="module")
def random_test_frame():
    """The random-split model's predictions on its 643 test slabs."""
    from semcgcnn.model.training.recipes import RECIPES
    from semcgcnn.model.training.data import load_slab_tensors

    torch.set_num_threads(1)
    r = RECIPES[per_element.RECIPE]
    data, frame = load_slab_tensors(r.datasets, descriptors=r.descriptors)
    return per_element.held_out_predictions("random", data, frame)


def test_test_frame_reproduces_the_models_recorded_test_mae(random_test_frame):
    card = json.loads(per_element.split_model("random").with_suffix(".json").read_text())
    f = random_test_frame
    assert len(f) == card["training_data"]["n_train_val_test"][2] == 643
    for task, col in per_element.COLUMNS.items():
        mae = np.mean(np.abs(f[f"{col}_pred"] - f[f"{col}_dft"]))
        assert mae == pytest.approx(card["metrics"]["test"][task]["mae"], abs=1e-6)


def test_per_element_mape_against_a_hand_computation(random_test_frame):
    f = random_test_frame
    table = per_element.per_element_errors(f)
    assert table["n_slabs"].sum() == len(f) == 643
    assert set(table["X_element"]) == set(f["X_element"])
    small = f[f["X_element"].isin(["Zn", "Sb", "Au"])].copy()  # a small real prediction frame
    small_table = per_element.per_element_errors(small).set_index("X_element")
    for x in ("Zn", "Sb", "Au"):
        rows = small[small["X_element"] == x]
        hand = {}
        for short, col in (("SE", "surface_energy_eV_per_A2"), ("WF", "work_function_eV")):
            terms = [abs(p - d) / abs(d) for p, d in zip(rows[f"{col}_pred"], rows[f"{col}_dft"], strict=True)]
            hand[short] = 100.0 * sum(terms) / len(terms)
        got = small_table.loc[x]
        assert got["n_slabs"] == len(rows) > 0
        assert got["mape_SE_pct"] == pytest.approx(hand["SE"], rel=1e-12)
        assert got["mape_WF_pct"] == pytest.approx(hand["WF"], rel=1e-12)
        assert got["mape_mean_pct"] == pytest.approx((hand["SE"] + hand["WF"]) / 2, rel=1e-12)
        assert table.set_index("X_element").loc[x, "mape_mean_pct"] == pytest.approx(got["mape_mean_pct"], rel=1e-12)
    assert small_table.loc["Sb", "X_class"] == "metalloid/nonmetal" and small_table.loc["Zn", "X_class"] == "metal"
    classes = per_element.class_errors(f, table).set_index("X_class")
    assert classes.loc["all", "n_slabs"] == 643
    assert classes.loc["metal", "n_slabs"] + classes.loc["metalloid/nonmetal", "n_slabs"] == 643
