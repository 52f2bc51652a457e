"""Distance to the training data in the model's representation, on real slabs: the grouped split's
seed-0 model (``studies/models/semcgcnn-grouped-s0``), its training rows as the reference, the
Mg–X systems it never saw as queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from semcgcnn.model.checkpoint import load_checkpoint
from semcgcnn.model.distance import KNNReference, ResidualGP, local_error, slab_embeddings

MODEL = Path(__file__).resolve().parents[2] / "studies" / "models" / "semcgcnn-grouped-s0"


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@pytest.fixture(scope="module")
def grouped():
    """Embeddings, targets, predictions and systems of every 3rd training row and every held-out
    (validation and test) row of the grouped split, seed 0."""
    from semcgcnn.model.inference import predict
    from semcgcnn.model.training.data import load_slab_tensors
    from semcgcnn.model.training.recipes import RECIPES, split_rows

    torch.set_num_threads(1)
    r = RECIPES["joint+desc+mp"]
    data, frame = load_slab_tensors(r.datasets, descriptors=r.descriptors)
    tr, va, te = split_rows(frame, "grouped", 0)
    tr = tr[::3]
    ck = load_checkpoint(MODEL)
    idx = np.concatenate([tr, va, te])
    emb = slab_embeddings(ck.model, data, idx)
    pred = predict(ck.model, data, idx, ck.normalizer)
    n1, n2 = len(tr), len(tr) + len(va)
    chem = frame["chemsys"].to_numpy()
    y = data.y.double().numpy()
    part = lambda a: {"train": a[:n1], "val": a[n1:n2], "test": a[n2:]}  # noqa: E731
    return {
        "emb": part(emb),
        "pred": part(pred),
        "y": part(y[idx]),
        "chem": part(chem[idx]),
        "model": ck.model,
        "data": data,
        "rows": part(idx),
    }


def test_embedding_is_the_mean_surface_state(grouped):
    """The embedding of a slab is the mean final state of its atoms with side > 0."""
    model, data = grouped["model"], grouped["data"]
    i = int(grouped["rows"]["test"][7])
    b = data.batch(np.array([i]))
    with torch.no_grad():
        x = model.atom_states(b.atom_fea, b.edges, b.edge_fea)
    expected = x[b.side > 0].mean(0).double().numpy()
    np.testing.assert_allclose(grouped["emb"]["test"][7], expected, rtol=1e-5, atol=1e-6)
    assert 0 < int((b.side > 0).sum()) < len(b.side)  # a slab has interior atoms too
    head = slab_embeddings(model, data, np.array([i]), "head", "work_function")
    assert head.shape == (1, model.cfg.h_fea_len) and np.isfinite(head).all()


def test_training_rows_are_at_distance_zero_and_match_brute_force(grouped):
    tr = grouped["emb"]["train"]
    ref = KNNReference.fit(tr, k=1)
    assert np.abs(ref.distances(tr)).max() < 1e-9  # each row finds itself
    loo = ref.distances(tr, exclude_self=True)
    assert np.median(loo) > 0.5  # left out, its nearest other row is a real distance away
    q = grouped["emb"]["test"][:40]
    std = np.where(tr.std(0) > 1e-12, tr.std(0), 1)
    z_ref, z_q = (tr - tr.mean(0)) / std, (q - tr.mean(0)) / std
    brute = np.sort(np.linalg.norm(z_q[:, None, :] - z_ref[None, :, :], axis=2), axis=1)[:, :5].mean(1)
    np.testing.assert_allclose(KNNReference.fit(tr, k=5).distances(q), brute, rtol=1e-10)


def test_held_out_systems_are_farther_than_held_out_rows_of_seen_systems(grouped):
    """Reference: 80 % of the training rows. The other 20 % (rows of systems the reference holds)
    lie much closer to it than the slabs of the Mg–X systems the model never saw."""
    tr = grouped["emb"]["train"]
    perm = np.random.default_rng(0).permutation(len(tr))
    cut = int(0.8 * len(tr))
    ref = KNNReference.fit(tr[perm[:cut]], k=5)
    seen = ref.distances(tr[perm[cut:]])
    unseen = ref.distances(np.concatenate([grouped["emb"]["val"], grouped["emb"]["test"]]))
    assert unseen.mean() > 1.3 * seen.mean()
    assert np.median(unseen) > np.quantile(seen, 0.75)


def test_distance_ranks_the_work_function_errors_of_unseen_systems(grouped):
    ref = KNNReference.fit(grouped["emb"]["train"], k=1)
    d = ref.distances(grouped["emb"]["test"])
    err = np.abs(grouped["y"]["test"][:, 1] - grouped["pred"]["test"][:, 1])
    ok = np.isfinite(err)
    assert _spearman(d[ok], err[ok]) > 0.4


def test_local_error_reads_only_other_systems(grouped):
    ref = KNNReference.fit(grouped["emb"]["train"], k=1)
    va, chem = grouped["emb"]["val"], grouped["chem"]["val"]
    err = np.abs(grouped["y"]["val"][:, 0] - grouped["pred"]["val"][:, 0])
    loso = local_error(ref, va, err, va, 10, chem, chem)
    z = ref.standardise(va).numpy()
    for i in (0, 100, 400):
        other = np.flatnonzero((chem != chem[i]) & np.isfinite(err))
        near = other[np.argsort(np.linalg.norm(z[other] - z[i], axis=1))[:10]]
        assert loso[i] == pytest.approx(err[near].mean(), rel=1e-10)
    # reading its own system too, a slab's value is its neighbours' inside that system: different
    assert not np.allclose(local_error(ref, va, err, va, 10), loso)


def test_residual_gp_from_validation_systems_corrects_an_unseen_system(grouped):
    """Fitted on the validation systems' residuals, ten labelled slabs of each test system
    correct that system's other slabs' work function (averaged over systems and 3 draws)."""
    ref = KNNReference.fit(grouped["emb"]["train"], k=1)
    z = {p: ref.standardise(grouped["emb"][p]).numpy() for p in ("val", "test")}
    r = {p: grouped["y"][p][:, 1] - grouped["pred"][p][:, 1] for p in ("val", "test")}
    chem = grouped["chem"]
    systems = lambda p: [  # noqa: E731
        np.flatnonzero((chem[p] == s) & np.isfinite(r[p])) for s in sorted(set(chem[p]))
    ]
    gp = ResidualGP.fit([(z["val"][m], r["val"][m]) for m in systems("val")])
    assert gp.tau > 0 and gp.noise > 0
    before, after = [], []
    for m in systems("test"):
        for seed in range(3):
            pick = np.random.default_rng(seed).permutation(m)
            lab, rest = pick[:10], pick[10:]
            corr = gp.predict(z["test"][lab], r["test"][lab], z["test"][rest])
            before.append(np.abs(r["test"][rest]).mean())
            after.append(np.abs(r["test"][rest] - corr).mean())
    assert np.mean(after) < 0.9 * np.mean(before)
