"""``semcgcnn select`` on a real screen made with the shipped ensemble: the most uncertain slab of
every compound first, new facets before second terminations, bulk files ready for ``semcgcnn label``."""

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
    run = cli("select", str(screen), "--budget", str(budget), "--out", str(tmp_path / "picks"))
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
