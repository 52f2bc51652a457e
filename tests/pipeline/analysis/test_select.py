"""``semcgcnn select`` on a real screen made with the shipped ensemble: every compound once per
round, new facets before second terminations; in a compound the slab farthest from the training
data and the earlier picks (``kcenter``, the default) or the most uncertain (``max_sigma``); bulk
files ready for ``semcgcnn label``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from semcgcnn.model.checkpoint import SHIPPED_MODEL
from semcgcnn.pipeline.analysis.selection import uncertainty_score


@pytest.fixture(scope="module")
def screen(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("screen") / "s"
    run = cli("screen", "--out", str(out), "--elements", "Ca", "--limit", "3", "--workers", "1")
    assert run.returncode == 0, run.stderr
    return out


def test_select_spreads_the_budget_over_compounds_and_facets(cli, screen, tmp_path):
    preds = pd.read_parquet(screen / "predictions.parquet")
    assert preds["surface_energy_eV_per_A2_std"].gt(0).all() and preds["work_function_eV_std"].gt(0).all()
    n_compounds = preds["compound_id"].nunique()
    budget = n_compounds + 2
    run = cli(
        "select",
        str(screen),
        "--budget",
        str(budget),
        "--out",
        str(tmp_path / "picks"),
        "--strategy",
        "max_sigma",
    )
    assert run.returncode == 0, run.stderr
    picks = pd.read_parquet(tmp_path / "picks" / "picks.parquet")
    assert len(picks) == budget and picks["slab_id"].is_unique
    first = picks[picks["round"] == 1]
    assert sorted(first["compound_id"]) == sorted(preds["compound_id"].unique())  # every compound once first
    sym = preds[preds["symmetric_slab"]].assign(score=lambda d: uncertainty_score(d))
    for r in first.itertuples():  # round 1: each compound's most uncertain slab
        assert r.slab_id == sym[sym["compound_id"] == r.compound_id].sort_values("score").iloc[-1]["slab_id"]
    for cid, g in picks.groupby(
        "compound_id"
    ):  # a second pick of a compound is a new facet where one is left
        facets = set(preds.loc[preds["compound_id"] == cid, "miller_index"])
        assert g["miller_index"].nunique() == min(len(g), len(facets))
    script = (tmp_path / "picks" / "label.sh").read_text()
    for r in picks.drop_duplicates(["compound_id", "miller_index"]).itertuples():
        assert (tmp_path / "picks" / "bulk" / f"{r.compound_id}.json").is_file()
        assert f'bulk/{r.compound_id}.json" --miller {r.miller_index.strip("()")}' in script
    # the written bulk passes semcgcnn label's bulk checks (a bulk, ordered)
    from semcgcnn.workflows.labelling.run import read_bulk

    read_bulk(tmp_path / "picks" / "bulk" / f"{picks['compound_id'].iloc[0]}.json")


def test_select_refuses_a_screen_without_uncertainty_in_one_line(cli, tmp_path):
    out = tmp_path / "single"
    run = cli(
        "screen",
        "--out",
        str(out),
        "--elements",
        "Ca",
        "--limit",
        "1",
        "--workers",
        "1",
        "--model",
        str(SHIPPED_MODEL),
    )
    assert run.returncode == 0, run.stderr
    for args, message in (
        (("select", str(out), "--budget", "2"), "carry no uncertainty"),
        (("select", str(tmp_path / "nowhere"), "--budget", "2"), "not a finished screen"),
        (("select", str(out), "--budget", "0"), "--budget must be ≥ 1"),
    ):
        res = cli(*args, "--out", str(tmp_path / "p"))
        assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_kcenter_picks_the_slab_farthest_from_the_training_data_and_the_earlier_picks(cli, screen, tmp_path):
    """Round 1: each compound's slab with the largest distance_to_training; its next pick: among
    slabs of facets not yet picked, the largest min(distance to training, distance to the first
    pick) in the model's relative embedding, recomputed here from the slabs' structures."""
    import numpy as np

    from semcgcnn.io import structure_from_json
    from semcgcnn.model.graphs import featurize_structures
    from semcgcnn.model.predict import load_pretrained

    preds = pd.read_parquet(screen / "predictions.parquet")
    n_compounds = preds["compound_id"].nunique()
    run = cli("select", str(screen), "--budget", str(2 * n_compounds), "--out", str(tmp_path / "picks"))
    assert run.returncode == 0, run.stderr
    picks = pd.read_parquet(tmp_path / "picks" / "picks.parquet")
    sym = preds[preds["symmetric_slab"]]
    slabs = pd.read_parquet(screen / "slabs.parquet").set_index("slab_id")
    p = load_pretrained()
    for cid, g in picks.groupby("compound_id"):
        mine = sym[sym["compound_id"] == cid]
        first, second = g.sort_values("pick")["slab_id"].iloc[:2]
        assert first == mine.loc[mine["distance_to_training"].idxmax(), "slab_id"]
        ids = list(mine["slab_id"])
        structures = [structure_from_json(slabs.loc[i, "structure_json"]) for i in ids]
        z = dict(
            zip(
                ids,
                p.embeddings(featurize_structures(structures, ids, p.graph_config, workers=1)),
                strict=True,
            )
        )
        facet = mine.set_index("slab_id")["miller_index"]
        fresh = [i for i in ids if facet[i] != facet[first]] or [i for i in ids if i != first]
        near = {
            i: min(mine.set_index("slab_id").loc[i, "distance_to_training"], np.linalg.norm(z[i] - z[first]))
            for i in fresh
        }
        assert second == max(fresh, key=lambda i: near[i])
