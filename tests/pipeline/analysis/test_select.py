"""``semcgcnn select`` on a real screen made with the shipped ensemble: every compound once per
round, new facets before second terminations; in a compound the slab farthest from the training
data and the earlier picks (``kcenter``, the default) or the most uncertain (``max_sigma``); bulk
files ready for ``semcgcnn label``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from semcgcnn.model.checkpoint import SHIPPED_MODEL
from semcgcnn.pipeline.analysis.selection import EQUAL_VALUE, uncertainty_score


def _facet_cost(screen: Path) -> dict[str, float]:
    """Per slab of the screen, the estimated GPAW default cost of labelling its facet."""
    from semcgcnn.pipeline.analysis.label_cost import cost_column, facet_costs
    from semcgcnn.pipeline.screen import results

    preds, manifest = results.read_table(screen, "predictions")
    facets = facet_costs(screen, manifest, list(preds["compound_id"].unique()))
    merged = preds.merge(facets, on=["compound_id", "miller_index"])
    return dict(zip(merged["slab_id"], merged[cost_column("default")], strict=True))


def _best_or_cheapest_equal(value: dict[str, float], cost: dict[str, float]) -> set[str]:
    """The slabs a pick among ``value``'s may be: worth ≥ EQUAL_VALUE of the best, and no slab so
    worth is cheaper."""
    top = max(value.values())
    equal = [s for s, v in value.items() if v >= EQUAL_VALUE * top]
    cheapest = min(cost[s] for s in equal)
    return {s for s in equal if cost[s] == cheapest}


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
        "--max-hours",
        "0",  # no cost bound: every slab a candidate
    )
    assert run.returncode == 0, run.stderr
    picks = pd.read_parquet(tmp_path / "picks" / "picks.parquet")
    assert len(picks) == budget and picks["slab_id"].is_unique
    first = picks[picks["round"] == 1]
    assert sorted(first["compound_id"]) == sorted(preds["compound_id"].unique())  # every compound once first
    sym = preds[preds["symmetric_slab"]].assign(score=lambda d: uncertainty_score(d))
    cost = _facet_cost(screen)
    for r in first.itertuples():  # round 1: each compound's most uncertain slab, or a cheaper as uncertain
        mine = sym[sym["compound_id"] == r.compound_id]
        assert r.slab_id in _best_or_cheapest_equal(
            dict(zip(mine["slab_id"], mine["score"], strict=True)), cost
        )
        assert r.estimated_gpaw_default_s == pytest.approx(cost[r.slab_id])
        assert 0 < r.estimated_gpaw_fast_s < r.estimated_gpaw_default_s and r.n_slabs >= 1
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
    args = ("--budget", str(2 * n_compounds), "--max-hours", "0")  # no cost bound: every slab a candidate
    run = cli("select", str(screen), *args, "--out", str(tmp_path / "picks"))
    assert run.returncode == 0, run.stderr
    picks = pd.read_parquet(tmp_path / "picks" / "picks.parquet")
    sym = preds[preds["symmetric_slab"]]
    slabs = pd.read_parquet(screen / "slabs.parquet").set_index("slab_id")
    p = load_pretrained()
    cost = _facet_cost(screen)
    for cid, g in picks.groupby("compound_id"):
        mine = sym[sym["compound_id"] == cid]
        first, second = g.sort_values("pick")["slab_id"].iloc[:2]
        d0 = dict(zip(mine["slab_id"], mine["distance_to_training"], strict=True))
        assert first in _best_or_cheapest_equal(d0, cost)
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
        assert second in _best_or_cheapest_equal(near, cost)


def test_select_leaves_out_facets_estimated_above_the_bound_and_says_so(cli, screen, tmp_path):
    cost = _facet_cost(screen)
    preds = pd.read_parquet(screen / "predictions.parquet")
    sym = preds[preds["symmetric_slab"]]
    bound_h = float(f"{pd.Series([cost[s] for s in sym['slab_id']]).median() / 3600:.9f}")
    bound_s = bound_h * 3600
    above = sum(cost[s] > bound_s for s in sym["slab_id"])
    assert 0 < above < len(sym)
    args = ("select", str(screen), "--budget", str(len(sym)), "--max-hours", f"{bound_h:.9f}")
    run = cli(*args, "--out", str(tmp_path / "picks"), "--strategy", "max_sigma")
    assert run.returncode == 0, run.stderr
    picks = pd.read_parquet(tmp_path / "picks" / "picks.parquet")
    assert len(picks) == len(sym) - above and (picks["estimated_gpaw_default_s"] <= bound_s).all()
    assert f"{above} slabs left out: their facet is estimated above --max-hours" in run.stdout
    assert "fast /" in run.stdout and "default)" in run.stdout
