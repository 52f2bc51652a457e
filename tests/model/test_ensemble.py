"""The shipped ensemble: its mean and calibrated spread come from its members, the single model
stays available, and fine-tuning tunes every member."""

from __future__ import annotations

import numpy as np
import pytest

from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE, SHIPPED_MODEL, load_checkpoint
from semcgcnn.model.ensemble import calibration_scale, coverage, load_ensemble


def test_calibration_scale_of_gaussian_errors_is_their_sigma_ratio():
    """Errors drawn with σ = 2 × the reported spread need a scale of 2, after which 68 % / 95 % of
    them fall within 1σ / 2σ."""
    rng = np.random.default_rng(0)
    spread = rng.uniform(0.5, 1.5, 40000)
    y = 2 * spread * rng.standard_normal(40000)
    mean = np.zeros_like(y)
    s = calibration_scale(y, mean, spread)
    assert s == pytest.approx(2.0, rel=0.03)
    assert coverage(y, mean, s * spread, 1) == pytest.approx(0.6827, abs=0.01)
    assert coverage(y, mean, s * spread, 2) == pytest.approx(0.9545, abs=0.01)


@pytest.fixture(scope="module")
def slabs(mg_records):
    recs = mg_records[::80]
    return [r.structure for r in recs], [r.structure_id for r in recs]


def test_shipped_ensemble_predicts_from_its_members_with_calibrated_spread(slabs):
    from semcgcnn.model.predict import load_pretrained

    structures, ids = slabs
    ens = load_ensemble(SHIPPED_ENSEMBLE)
    p = load_pretrained()  # the default is the ensemble
    assert p.is_ensemble and p.model_id == ens.model_id and len(p.members) == len(ens.members) >= 3
    df = p.predict(structures, ids)
    singles = [
        load_pretrained(m)
        for m in [SHIPPED_MODEL, *(SHIPPED_ENSEMBLE.parent / s for s in ens.card["members"][1:])]
    ]
    member_vals = np.stack(
        [
            s.predict(structures, ids)[["surface_energy_eV_per_A2", "work_function_eV"]].to_numpy()
            for s in singles
        ]
    )
    center = member_vals[0] if ens.center == "first" else member_vals.mean(0)  # what the card says predicts
    np.testing.assert_allclose(df["surface_energy_eV_per_A2"], center[:, 0], rtol=1e-6)
    np.testing.assert_allclose(df["work_function_eV"], center[:, 1], rtol=1e-6)
    for k, (col, task) in enumerate(
        (("surface_energy_eV_per_A2_std", "surface_energy"), ("work_function_eV_std", "work_function"))
    ):
        ts = ens.sigma_model.tasks[task]  # the card's σ: spread and distance (test_uncertainty.py)
        spread = member_vals[:, :, k].std(0, ddof=1)
        expected = ts.scale * np.sqrt(spread**2 + ts.distance_weight * df["distance_to_training"] ** 2)
        # the ensemble runs its members stacked (model/batched.py), the singles one by one: equal to
        # float rounding, which a spread of nearly equal values amplifies
        np.testing.assert_allclose(df[col], expected, rtol=1e-4)
        assert (df[col] > 0).all()
    # the single model stays available: member 0 alone, no spread
    single = load_pretrained(SHIPPED_MODEL).predict(structures, ids)
    assert single["surface_energy_eV_per_A2_std"].isna().all()
    np.testing.assert_allclose(single["surface_energy_eV_per_A2"], member_vals[0, :, 0], rtol=1e-6)
    assert single["model_id"].iloc[0] == load_checkpoint(SHIPPED_MODEL).model_id != p.model_id


def test_finetuning_an_ensemble_tunes_every_member_keeps_its_sigma_and_learns_where_labels_are(
    mg_records, tmp_path
):
    import pandas as pd

    from semcgcnn.datasets import labels
    from semcgcnn.model.config import FinetuneConfig
    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.model.training.ensemble import finetune_ensemble
    from semcgcnn.model.training.extra_labels import labels_table_from_records
    from semcgcnn.model.training.recipes import split_rows
    from semcgcnn.schema import write_parquet

    # B-Mg, the system the model gets most wrong, in slabs the shipped model never trained on (rows
    # of its validation split: its card's training_data names the datasets and the split)
    card = load_ensemble(SHIPPED_ENSEMBLE).members[0].card
    frame = pd.concat(
        [labels(n)[["chemsys"]].assign(source=n) for n in card["training_data"]["datasets"]],
        ignore_index=True,
    )
    _, val, _ = split_rows(frame, card["train_config"]["split"], card["train_config"]["seed"])
    recs = [mg_records[i] for i in val if i < len(mg_records) and mg_records[i].chemsys == "B-Mg"][:4]
    assert len(recs) == 4
    write_parquet(tmp_path / "labels.parquet", labels_table_from_records(recs))
    card = finetune_ensemble(
        SHIPPED_ENSEMBLE, [tmp_path / "labels.parquet"], FinetuneConfig(epochs=3), tmp_path / "ft"
    )
    old, new = load_ensemble(SHIPPED_ENSEMBLE), load_ensemble(card)
    assert (
        len(new.members) == len(old.members)
        and new.calibration == old.calibration
        and new.center == old.center
    )
    assert new.card["parent_model_id"] == old.model_id != new.model_id
    assert [m.card["parent_model_id"] for m in new.members] == [m.model_id for m in old.members]
    structures, ids = [r.structure for r in recs], [r.structure_id for r in recs]
    before, after = (
        load_pretrained(SHIPPED_ENSEMBLE).predict(structures, ids),
        load_pretrained(card).predict(structures, ids),
    )
    y = np.array([r.targets["surface_energy"] for r in recs])
    assert (
        np.abs(after["surface_energy_eV_per_A2"] - y).mean()
        < np.abs(before["surface_energy_eV_per_A2"] - y).mean()
    )
    # the σ weights carry over; the labelled slabs join the reference, so their distance term goes
    # (validation rows: not in the shipped reference before) and their σ shrinks
    assert new.card["distance"]["sigma"] == old.card["distance"]["sigma"]
    assert len(new.reference.points) == len(old.reference.points) + 4
    assert (before["distance_to_training"] > 0.05).all() and (after["distance_to_training"] < 1e-3).all()
    for col in (
        "surface_energy_eV_per_A2_std",
        "work_function_eV_std",
    ):  # members' spread may move either way
        assert after[col].mean() < before[col].mean()
