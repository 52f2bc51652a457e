"""The screen's pure stages on real compounds: what a jobflow job will call, one stage at a time."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def stage_inputs():
    """The first three shipped Mg–Al binaries, their slabs, and the shipped model."""
    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.pipeline.screen.candidates import screen_candidates
    from semcgcnn.pipeline.screen.run import cut_slabs
    from semcgcnn.pipeline.slabs import SlabConfig

    found = screen_candidates("bundled", elements=["Al"], limit=3)
    assert found.errors == [] and found.n_valid > 3 and len(found.candidates) == 3
    cut = [(c, cut_slabs(c.compound_id, c.structure, SlabConfig())) for c in found.candidates]
    return cut, load_pretrained()


def _jobflow_round_trip(obj):
    """What jobflow does to a job's output: jsanitize (strict), JSON, then MontyDecoder."""
    from monty.json import MontyDecoder, jsanitize

    return MontyDecoder().process_decoded(
        json.loads(json.dumps(jsanitize(obj, strict=True, allow_bson=True)))
    )


def test_stage_outputs_survive_jobflow_serialisation(stage_inputs):
    from pymatgen.core.surface import get_symmetrically_distinct_miller_indices
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from semcgcnn.pipeline.screen.batch import screen_batch
    from semcgcnn.pipeline.slabs import SlabConfig

    cut, predictor = stage_inputs
    again = [(_jobflow_round_trip(c), _jobflow_round_trip(r)) for c, r in cut]
    cfg = SlabConfig()
    for (c, r), (c2, r2) in zip(cut, again, strict=True):
        assert type(c2).__name__ == "Candidate" and c2.structure == c.structure and c2.formula == c.formula
        assert r2 == r and r.errors == []
        # what survives: a slab of every facet pymatgen finds for the compound's conventional cell
        conv = SpacegroupAnalyzer(c.structure, symprec=cfg.bulk_symprec).get_conventional_standard_structure()
        facets = {tuple(m) for m in get_symmetrically_distinct_miller_indices(conv, cfg.max_index)}
        assert {(s["miller_h"], s["miller_k"], s["miller_l"]) for s in r2.slabs} == facets
    direct, via_json = screen_batch(cut, predictor), screen_batch(again, predictor)
    for name, df in direct.items():
        pd.testing.assert_frame_equal(df, via_json[name], check_exact=True)
    assert direct["predictions"]["surface_energy_eV_per_A2"].between(0.01, 0.2).all()


def test_compound_tables_agree_with_each_other(stage_inputs):
    from semcgcnn.pipeline.screen.batch import compound_tables
    from semcgcnn.pipeline.screen.predictions import predict_slabs
    from semcgcnn.pipeline.slabs import slab_structure

    (cand, res), *_ = stage_inputs[0]
    predictor = stage_inputs[1]
    structures = {s["slab_id"]: slab_structure(s) for s in res.slabs}
    predicted, errors = predict_slabs(predictor, structures)
    assert errors == [] and [p["slab_id"] for p in predicted] == [s["slab_id"] for s in res.slabs]
    t = compound_tables(cand, res, structures, {p["slab_id"]: p for p in predicted}, predictor)
    preds, facets, (wulff,) = pd.DataFrame(t["predictions"]), pd.DataFrame(t["facets"]), t["wulff"]
    # one facet per Miller index, from its lowest-energy termination, flagged on that prediction row
    lowest = preds.groupby("miller_index")["surface_energy_eV_per_A2"].min()
    assert (
        facets.set_index("miller_index")["surface_energy_eV_per_A2"].sort_index().equals(lowest.sort_index())
    )
    assert set(preds.loc[preds["is_facet_minimum"], "slab_id"]) == set(facets["slab_id"])
    # the Wulff row is the area-weighted mean of the facet rows
    assert facets["area_fraction"].sum() == pytest.approx(1.0)
    assert wulff["weighted_surface_energy_eV_per_A2"] == pytest.approx(
        float((facets["surface_energy_eV_per_A2"] * facets["area_fraction"]).sum()), rel=1e-9
    )
    assert wulff["weighted_work_function_eV"] == pytest.approx(
        float((facets["work_function_eV"] * facets["area_fraction"]).sum()), rel=1e-9
    )
    assert wulff["n_facets"] == len(facets) == res.n_miller and t["compounds"][0]["n_slabs"] == len(res.slabs)


def test_part_store_discards_only_the_temporary_parts_of_dead_writers(tmp_path):
    """Batch jobs of one screen commit side by side (FireWorks, jobflow-remote workers): one job's
    look at the store must not delete another's part being written. A writer's temporary folder
    stays while its process lives and goes once it is dead; another host's stays for a day."""
    import socket
    import subprocess
    import time

    from semcgcnn.pipeline.screen.store import FOREIGN_TMP_MAX_AGE_S, PartStore

    store = PartStore(tmp_path)
    store.root.mkdir(parents=True)
    writer = subprocess.Popen(["sleep", "60"])
    live = store.root / f".tmp-{socket.gethostname()}-{writer.pid}-0123abcd"
    foreign = store.root / ".tmp-some-other-node-12345-0123abcd"
    old_foreign = store.root / ".tmp-some-other-node-12346-0123abcd"
    for d in (live, foreign, old_foreign):
        d.mkdir()
    old = time.time() - FOREIGN_TMP_MAX_AGE_S - 60
    os.utime(old_foreign, (old, old))
    try:
        assert store.done() == set() and live.exists() and foreign.exists() and not old_foreign.exists()
    finally:
        writer.kill()
        writer.wait()
    assert store.parts() == [] and not live.exists() and foreign.exists()


def test_part_store_assembles_committed_parts_in_candidate_order(tmp_path, stage_inputs):
    from semcgcnn.pipeline.screen.batch import screen_batch
    from semcgcnn.pipeline.screen.store import PartStore

    cut, predictor = stage_inputs
    store = PartStore(tmp_path)
    store.commit(screen_batch(cut[2:], predictor), [cut[2][0].compound_id])  # finished first
    store.commit(screen_batch(cut[:2], predictor), [c.compound_id for c, _ in cut[:2]])
    (store.root / ".tmp-killed").mkdir()  # what a kill in the middle of a commit leaves
    assert store.done() == {c.compound_id for c, _ in cut} and not (store.root / ".tmp-killed").exists()
    order = {c.compound_id: i for i, (c, _) in enumerate(cut)}
    paths = store.assemble(
        order, [{"stage": "candidates", "id": "bad.cif", "reason": "unreadable"}], {"k": 1}
    )
    compounds = pd.read_parquet(paths["compounds"])
    assert list(compounds["compound_id"]) == [c.compound_id for c, _ in cut]
    slabs = pd.read_parquet(paths["slabs"])
    assert list(slabs["slab_id"]) == [s["slab_id"] for _, r in cut for s in r.slabs]
    assert pd.read_parquet(paths["errors"])["id"].iloc[0] == "bad.cif"


def test_progress_bars_count_what_the_library_reports():
    import io

    from rich.console import Console

    from semcgcnn.progress import QUIET, Bars

    QUIET.stage("anything", 10)(3, info="ignored")  # accepts the calls, draws nothing
    out = io.StringIO()
    with Bars(console=Console(file=out, width=100)) as bars:
        slabs, batches = bars.stage("slabs", 7, completed=2), bars.stage("batches", 4)
        slabs(5, info="done")
        batches(1)
    text = out.getvalue()
    assert "7/7" in text and "1/4" in text and "done" in text
