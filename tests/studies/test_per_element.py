"""Per-element errors of the split models (``studies/per_element.py``) on their real held-out
predictions."""

from __future__ import annotations

import json

import numpy as np
import per_element
import pytest
import torch


@pytest.fixture(scope="module")
def random_test_frame():
    """The random-split model's predictions on its 643 test slabs."""
    from semcgcnn.model.training.data import load_slab_tensors
    from semcgcnn.model.training.recipes import RECIPES

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
            terms = [
                abs(p - d) / abs(d) for p, d in zip(rows[f"{col}_pred"], rows[f"{col}_dft"], strict=True)
            ]
            hand[short] = 100.0 * sum(terms) / len(terms)
        got = small_table.loc[x]
        assert got["n_slabs"] == len(rows) > 0
        assert got["mape_SE_pct"] == pytest.approx(hand["SE"], rel=1e-12)
        assert got["mape_WF_pct"] == pytest.approx(hand["WF"], rel=1e-12)
        assert got["mape_mean_pct"] == pytest.approx((hand["SE"] + hand["WF"]) / 2, rel=1e-12)
        assert table.set_index("X_element").loc[x, "mape_mean_pct"] == pytest.approx(
            got["mape_mean_pct"], rel=1e-12
        )
    assert (
        small_table.loc["Sb", "X_class"] == "metalloid/nonmetal"
        and small_table.loc["Zn", "X_class"] == "metal"
    )
    classes = per_element.class_errors(f, table).set_index("X_class")
    assert classes.loc["all", "n_slabs"] == 643
    assert classes.loc["metal", "n_slabs"] + classes.loc["metalloid/nonmetal", "n_slabs"] == 643
