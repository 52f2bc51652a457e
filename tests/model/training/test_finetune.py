"""Feeding labels back: extra labels as training rows, and fine-tuning a checkpoint on them.

Real data only: the base model is ``studies/models/semcgcnn-grouped-s0`` (the grouped seed-0
model, which never saw 21 Mg–X systems) and the shipped DFT labels of those systems act as the
oracle that ``semcgcnn label`` would be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from semcgcnn.model.training.extra_labels import (
    SOURCE,
    ExtraLabelsError,
    labels_table_from_records,
    load_extra_labels,
    with_extra_training_rows,
)
from semcgcnn.schema import write_parquet

BASE = Path(__file__).resolve().parents[3] / "studies" / "models" / "semcgcnn-grouped-s0"
SYSTEMS = (
    "B-Mg",
    "Au-Mg",
    "Li-Mg",
)  # unseen by BASE: B-Mg's WF is biased by +0.45 eV, Au-Mg and Li-Mg are metallic
PER_SYSTEM = 5
FORGET_BOUND = 1.5
"""Largest accepted MAE after / before on a sample of the base model's training systems (both
tasks). Measured (reports/finetune.md), the default configuration (replay 0.5) leaves the SE error
there within ±10 % but raises the WF error by about 20-30 % (from ≈ 0.07 eV, a third of the WF
error on unseen systems); 1.5× is the line beyond which the model has forgotten, not drifted."""


@pytest.fixture(scope="module")
def bench():
    """The base checkpoint, the Mg slabs as tensors with its element table, and the records."""
    from semcgcnn.datasets import load
    from semcgcnn.model.checkpoint import load_checkpoint
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.training.data import slab_graphs

    torch.set_num_threads(1)
    ck = load_checkpoint(BASE)
    gs, y, frame = slab_graphs(("mg_binary_slabs",), ck.graph_config)
    table = np.asarray(ck.card["element_descriptors"]["table"], np.float32)
    records = {r.structure_id: r for r in load("mg_binary_slabs")}
    return {
        "ck": ck,
        "data": GraphTensors(gs, y, descriptors=table),
        "y": y,
        "frame": frame,
        "records": records,
    }


def _labels(bench, rows, path: Path, **edit) -> Path:
    table = labels_table_from_records(
        [bench["records"][i] for i in bench["frame"]["structure_id"].to_numpy()[rows]]
    )
    df = table.to_pandas()
    for column, values in edit.items():
        df[column] = values
    from semcgcnn.schema import to_table

    write_parquet(path, to_table("labels", df))
    return path


def _mae(bench, model, normalizer, rows) -> np.ndarray:
    from semcgcnn.model.inference import predict

    pred = predict(model, bench["data"], rows, normalizer)
    return np.nanmean(np.abs(pred - bench["y"][rows]), axis=0)


def test_finetuning_on_a_few_labels_lowers_the_error_on_those_systems(bench, tmp_path):
    from semcgcnn.model.checkpoint import load_checkpoint
    from semcgcnn.model.config import FinetuneConfig
    from semcgcnn.model.training.finetune import finetune

    ck, frame = bench["ck"], bench["frame"]
    assert set(SYSTEMS) <= set(ck.card["never_seen_systems"])
    chemsys = frame["chemsys"].to_numpy()
    rng = np.random.default_rng(0)
    picked = np.sort(
        np.concatenate([rng.choice(np.flatnonzero(chemsys == s), PER_SYSTEM, replace=False) for s in SYSTEMS])
    )
    rest = np.setdiff1d(np.flatnonzero(np.isin(chemsys, SYSTEMS)), picked)
    seen = np.flatnonzero(np.isin(chemsys, ck.card["training_systems"]))
    seen = np.sort(np.random.default_rng(1).choice(seen, 200, replace=False))
    path = _labels(bench, picked, tmp_path / "labels.parquet")

    res = finetune(BASE, path, FinetuneConfig(), out=tmp_path / "ft", progress=False)
    short = [finetune(ck, path, FinetuneConfig(epochs=2), progress=False) for _ in range(2)]
    for k, v in short[0].model.state_dict().items():  # deterministic for a seed
        torch.testing.assert_close(v, short[1].model.state_dict()[k], rtol=0, atol=0)

    before, after = _mae(bench, ck.model, ck.normalizer, rest), _mae(bench, res.model, res.normalizer, rest)
    # on the remaining slabs of those systems: the work function's system bias is what a few labels
    # fix (measured with the invariant-graph grouped-s0 model: WF 0.348 -> 0.235 eV); the surface
    # energy stays where it was (0.01275 -> 0.01285 eV/Å²; the previous model's fell a little)
    assert after[1] < 0.8 * before[1] and after[0] < 1.02 * before[0], (before, after)
    b_mg = rest[chemsys[rest] == "B-Mg"]
    assert _mae(bench, res.model, res.normalizer, b_mg)[1] < _mae(bench, ck.model, ck.normalizer, b_mg)[1]
    kept_before, kept_after = (
        _mae(bench, ck.model, ck.normalizer, seen),
        _mae(bench, res.model, res.normalizer, seen),
    )
    assert np.all(kept_after <= FORGET_BOUND * kept_before), (kept_before, kept_after)

    # the saved checkpoint reloads safely, predicts the same, and its card names parent and labels
    saved = load_checkpoint(tmp_path / "ft")
    np.testing.assert_allclose(_mae(bench, saved.model, saved.normalizer, rest), after, rtol=1e-6)
    card = saved.card
    assert card["parent_model_id"] == ck.model_id and card["model_id"] != ck.model_id
    (lab,) = card["finetune"]["labels"]
    assert lab["name"] == "labels.parquet" and lab["rows"] == len(picked) and len(lab["sha256"]) == 64
    assert card["finetune"]["label_systems"] == sorted(SYSTEMS)
    assert set(SYSTEMS) <= set(card["training_systems"])
    assert card["normalizer"] == ck.card["normalizer"] and card["model_config"] == ck.card["model_config"]
    assert card["element_descriptors"] == ck.card["element_descriptors"]


def test_unavailable_work_function_is_masked_and_bad_rows_are_reported(bench, tmp_path):
    from semcgcnn.model.config import FinetuneConfig
    from semcgcnn.model.training.finetune import finetune

    rows = np.flatnonzero(bench["frame"]["chemsys"].to_numpy() == "B-Mg")[:6]
    se = bench["y"][rows, 0].copy()
    se[5] = np.nan  # a failed calculation: excluded and reported, not trained on
    path = _labels(
        bench,
        rows,
        tmp_path / "mlp.parquet",
        work_function_available=False,
        work_function_eV=bench["y"][rows, 1],
        surface_energy_eV_per_A2=se,
    )  # WF present but flagged
    labels = load_extra_labels(path)
    assert len(labels) == 5 and np.isnan(labels.y[:, 1]).all() and np.isfinite(labels.y[:, 0]).all()
    (rec,) = labels.files
    assert rec["excluded"] == {"surface energy not finite": 1} and rec["rows_in_file"] == 6
    assert rec["work_function_masked"] == 5

    ck = bench["ck"]
    res = finetune(ck, labels, FinetuneConfig(epochs=5, replay_fraction=0.0), progress=False)
    parent, tuned = ck.model.state_dict(), res.model.state_dict()
    wf_head = [k for k in parent if k.startswith("heads.work_function.")]
    se_head = [k for k in parent if k.startswith("heads.surface_energy.")]
    assert wf_head and all(torch.equal(parent[k], tuned[k]) for k in wf_head)  # no WF loss reached its head
    assert any(not torch.equal(parent[k], tuned[k]) for k in se_head)
    assert all(torch.isfinite(v).all() for v in tuned.values() if v.is_floating_point())


def test_extra_rows_join_training_only(bench, tmp_path):
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.graphs import dataset_graphs
    from semcgcnn.model.training.data import load_slab_tensors

    rows = np.flatnonzero(bench["frame"]["chemsys"].to_numpy() == "Au-Mg")[:4]
    labels = load_extra_labels(_labels(bench, rows, tmp_path / "au.parquet"))
    # a slab labelled anew is featurized from its JSON exactly as the shipped dataset's graph
    own = GraphTensors(labels.graphs, labels.y)
    ref = GraphTensors(dataset_graphs("mg_binary_slabs")[0].subset(rows), bench["y"][rows])
    torch.testing.assert_close(own.atom_fea, ref.atom_fea)
    torch.testing.assert_close(own.uniq_dist, ref.uniq_dist)
    # ids must differ from the datasets' rows: relabel them as a new calculation would
    labels.frame["structure_id"] = [f"new-{i}" for i in labels.frame["structure_id"]]
    data, frame = load_slab_tensors(("mg_binary_slabs",), extra=labels)
    n = len(bench["frame"])
    assert len(data) == n + 4 and (frame["source"].to_numpy()[n:] == SOURCE).all()
    np.testing.assert_array_equal(data.y[n:].numpy(), labels.y.astype(np.float32))
    tr, va, te = with_extra_training_rows((np.arange(10), np.arange(10, 12), np.arange(12, 14)), n, 4)
    assert set(range(n, n + 4)) <= set(tr) and not set(range(n, n + 4)) & (set(va) | set(te))


def test_malformed_labels_tables_are_one_line_errors(bench, tmp_path):
    from typer.testing import CliRunner

    from semcgcnn.cli import app

    good = _labels(bench, np.arange(3, 6), tmp_path / "good.parquet")
    no_columns = tmp_path / "no_columns.parquet"
    pq.write_table(pa.table({"structure_id": ["a"], "surface_energy_eV_per_A2": [0.05]}), no_columns)
    not_parquet = tmp_path / "labels.parquet"
    not_parquet.write_text("structure_id,surface_energy\n")
    bad_json = _labels(
        bench,
        np.arange(3),
        tmp_path / "bad_json.parquet",
        structure_json=[
            bench["records"][bench["frame"]["structure_id"][0]].structure.to_json(),
            "{not json",
            "[]",
        ],
    )
    cases = {
        no_columns: "missing column(s) chemsys",
        not_parquet: "not a readable Parquet labels table",
        bad_json: "row 1 (",
        tmp_path / "absent.parquet": "not found",
    }
    runner = CliRunner()
    for path, message in cases.items():
        if path.exists():  # a file the library reads and refuses: the command says what it says
            with pytest.raises(ExtraLabelsError) as refused:
                load_extra_labels([good, path])
            expected = f"error: {refused.value}"
        else:  # refused by the command line before any reading
            expected = f"error: --extra-labels {path}: file not found"
        for args in (
            ["train", "--out", str(tmp_path / "m")],
            ["finetune", "--out", str(tmp_path / "f")],
            ["ship", "--out", str(tmp_path / "s"), "--runs-dir", str(tmp_path / "r")],
        ):
            out = runner.invoke(
                app, [*args, "--extra-labels", str(good), "--extra-labels", str(path)], env={"COLUMNS": "400"}
            )
            assert out.exit_code == 2, (args, path, out.output)
            err = out.stderr.strip()
            assert err.startswith("error:") and message in err and "\n" not in err, (args, err)
            assert err == expected, (args, err)
    with pytest.raises(ExtraLabelsError, match="appears more than once"):
        load_extra_labels(_labels(bench, np.array([0, 0]), tmp_path / "dup.parquet"))
