"""One active-learning round end to end: screen the shipped MgAg (mp-2696) with the
ensemble → pick its most uncertain slab → label that facet with GPAW (fast preset) → fine-tune
every member → screen again: the labelled slab's prediction moves towards its DFT label."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from backends_required import requires_gpaw

from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE


@requires_gpaw
@pytest.mark.slow
def test_one_round_with_gpaw_moves_the_labelled_slab_towards_its_label(cli, tmp_path):
    from semcgcnn.datasets import load

    bulk = next(r.structure for r in load("mg_binary_bulk") if r.structure_id == "mp-2696")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "mp-2696.json").write_text(json.dumps(bulk.as_dict()))
    out = tmp_path / "loop"
    run = cli(
        "loop",
        "--out",
        str(out),
        "--structures",
        str(tmp_path / "in"),
        "--budget",
        "1",
        "--backend",
        "gpaw",
        "--preset",
        "fast",
        "--workers",
        "1",
        timeout=1200,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    picks = pd.read_parquet(out / "picks" / "picks.parquet")
    assert len(picks) == 1 and picks["compound_id"].iloc[0] == "mp-2696"
    cmp = pd.read_parquet(out / "loop_comparison.parquet")
    picked = cmp[cmp["slab_id"] == picks["slab_id"].iloc[0]].iloc[0]
    assert picked["miller_index"] == picks["miller_index"].iloc[0]
    assert picked["before_model_id"] != picked["after_model_id"]
    card = json.loads((out / "model-1.json").read_text())
    assert card["parent_model_id"] == json.loads(SHIPPED_ENSEMBLE.read_text())["model_id"]
    # fine-tuned on its own DFT label: the picked slab's prediction gets closer to it, both tasks
    for task in ("surface_energy_eV_per_A2", "work_function_eV"):
        before = abs(picked[f"before_{task}"] - picked[f"dft_{task}"])
        after = abs(picked[f"after_{task}"] - picked[f"dft_{task}"])
        assert after < before, (task, before, after)
    assert (out / "screen-1" / "wulff.parquet").is_file()
