"""The shipped model's element embeddings (``semcgcnn.model.embeddings``), on its real weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
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
    assert all(a <= b for a, b in zip(numbers, numbers[1:], strict=False))
    assert (
        embeddings.index[0] == "Na" and embeddings.index[-1] == "H"
    )  # pymatgen's Mendeleev numbers 11 and 103
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
            atoms = np.flatnonzero(
                (data.atomic_numbers == ELEMENT_SYMBOLS.index(sym)) & (data.atom_fea[:, 92].numpy() == 0)
            )[:3]
            assert len(atoms), sym
            got = shipped.model.embedding(data.atom_fea[atoms].index_select(1, shipped.model.input_cols))
            for v in got.double().numpy():
                np.testing.assert_allclose(v, embeddings.loc[sym].to_numpy(), atol=1e-5)
            checked.add(sym)
    assert checked == {"Mg", "Zn", "Se"}
