"""The shipped σ: the members' spread beside the distance to the training slabs, checked by hand
on real slabs; the fit of its weights; the verified reference file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE, CheckpointError
from semcgcnn.model.distance import KNNReference
from semcgcnn.model.uncertainty import TWO_SIGMA, TaskSigma, fit_task_sigma


@pytest.fixture(scope="module")
def shipped():
    from semcgcnn.model.predict import load_pretrained

    return load_pretrained()


def _slabs(records) -> tuple[list[str], list]:
    return [r.structure_id for r in records], [r.structure for r in records]


def test_shipped_sigma_is_spread_and_distance_by_hand(shipped, mg_records):
    """σ = c·√(s² + b·d²) per task, with s the members' std and d the nearest-training-slab
    distance (k = 1) in the first member's standardised surface embedding over the reference's
    median leave-one-out distance, recomputed here with plain numpy."""
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.distance import slab_embeddings
    from semcgcnn.model.graphs import featurize_structures

    p = shipped
    assert p.sigma_model.uses_distance and p.reference is not None and p.reference.k == 1
    ids, slabs = _slabs(mg_records[::400])
    df = p.predict(slabs, ids=ids)
    graphs = featurize_structures(slabs, ids, p.graph_config, workers=1)
    members = p.predict_members(graphs)
    data = GraphTensors(graphs, descriptors=p.descriptors)
    emb = slab_embeddings(p.checkpoint.model, data, np.arange(len(ids)))
    z = (emb - p.reference.mean) / p.reference.std
    pts = p.reference.points.numpy()
    d = np.sqrt(((z[:, None, :] - pts[None]) ** 2).sum(-1)).min(1) / p.reference.scale
    np.testing.assert_allclose(df["distance_to_training"], d, rtol=1e-5, atol=1e-6)
    for j, (task, col) in enumerate(
        (("surface_energy", "surface_energy_eV_per_A2_std"), ("work_function", "work_function_eV_std"))
    ):
        ts = p.sigma_model.tasks[task]
        s = members[:, :, j].std(0, ddof=1)
        np.testing.assert_allclose(df[col], ts.scale * np.sqrt(s**2 + ts.distance_weight * d**2), rtol=1e-6)
        assert ts.distance_weight > 0


def test_distance_is_small_on_training_slabs_and_large_outside(shipped, mg_records):
    """A slab the shipped model trained on lies on its reference (d ≈ 0, up to float32 rounding);
    slabs of a bulk outside its chemistry (MgCl2, a halide of the bundled set) lie beyond the
    typical spacing of the training slabs, and their σ is the larger (WF: every one of them above
    twice the training slabs' median; SE, where the spread weighs more: on average)."""
    from semcgcnn.pipeline.screen.candidates import screen_candidates
    from semcgcnn.pipeline.screen.run import cut_slabs
    from semcgcnn.pipeline.slabs import SlabConfig, slab_structure

    ids, slabs = _slabs(mg_records[:40])
    d_train = shipped.predict(slabs, ids=ids)["distance_to_training"].to_numpy()
    # most of the first 40 Mg–X slabs are training rows (the rest are the 10 % validation rows)
    assert np.median(d_train) < 1e-3
    cands = [
        c
        for c in screen_candidates("bundled").candidates
        if c.formula.replace(" ", "") in ("MgCl2", "Mg1Cl2")
    ]
    assert cands, "the bundled set holds MgCl2"
    res = cut_slabs(cands[0].compound_id, cands[0].structure, SlabConfig(max_index=1))
    far = shipped.predict([slab_structure(s) for s in res.slabs[:3]])
    assert (far["distance_to_training"] > 1.0).all()
    near = shipped.predict(slabs, ids=ids)
    assert far["work_function_eV_std"].min() > 2 * near["work_function_eV_std"].median()
    assert far["surface_energy_eV_per_A2_std"].mean() > 2 * near["surface_energy_eV_per_A2_std"].mean()


def test_fit_recovers_the_weights_of_gaussian_errors():
    """Errors drawn from N(0, c²(s² + b·d²)) give back c and b, and 95.45 % of them lie within 2σ."""
    rng = np.random.default_rng(0)
    n = 20000
    s, d = rng.uniform(0.5, 2.0, n), rng.uniform(0.0, 3.0, n)
    true = TaskSigma(0.7, 1.0, 0.4)
    err = true(s, d) * rng.standard_normal(n)
    fit = fit_task_sigma(err, s, d)
    assert fit.scale == pytest.approx(0.7, rel=0.05) and fit.distance_weight == pytest.approx(0.4, rel=0.1)
    assert np.mean(np.abs(err) <= 2 * fit(s, d)) == pytest.approx(TWO_SIGMA, abs=1e-3)
    spread_only = fit_task_sigma(err, s, None)
    assert spread_only.distance_weight == 0.0


def test_reference_file_is_verified(tmp_path):
    """The reference round-trips through safetensors; a changed byte or a card naming another
    hash is refused, as is a card whose σ was edited (its model id no longer matches)."""
    ref = KNNReference.fit(np.random.default_rng(1).normal(size=(50, 4)), k=2)
    sha = ref.save(tmp_path / "ref.safetensors")
    back = KNNReference.load(tmp_path / "ref.safetensors", sha)
    q = np.random.default_rng(2).normal(size=(5, 4))
    np.testing.assert_allclose(back.relative_distances(q), ref.relative_distances(q), rtol=1e-6)
    with pytest.raises(ValueError, match="sha256"):
        KNNReference.load(tmp_path / "ref.safetensors", "0" * 64)

    from semcgcnn.model.ensemble import load_ensemble

    folder = tmp_path / "weights"
    shutil.copytree(SHIPPED_ENSEMBLE.parent, folder)
    card_path = folder / SHIPPED_ENSEMBLE.name
    card = json.loads(card_path.read_text())
    card["distance"]["sigma"]["surface_energy"]["scale"] *= 0.5
    card_path.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="not the id of its members"):
        load_ensemble(card_path)
    card = json.loads((SHIPPED_ENSEMBLE).read_text())
    card_path.write_text(json.dumps(card))
    ref_file = folder / card["distance"]["reference"]
    raw = bytearray(ref_file.read_bytes())
    raw[-1] ^= 1
    ref_file.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="sha256"):
        load_ensemble(card_path)
    assert Path(SHIPPED_ENSEMBLE).is_file()
