"""The Table-1 study (studies/table1.py): one cell per (split, variant, seed), skipped once done;
report written."""

from __future__ import annotations

import json

import table1  # studies/table1.py (pytest's pythonpath holds studies/)

from semcgcnn.model.config import TrainConfig
from semcgcnn.model.training.splits import make_split


def test_cells_run_once_and_report_has_paper_numbers(mg_small, tmp_path, monkeypatch):
    data, groups = mg_small
    cfg = TrainConfig(epochs=1, batch_size=32, threads=1)
    r1 = table1.run_variant(
        data, groups, "stl", "grouped", 0, cfg, tmp_path / "res", tmp_path / "runs", progress=False
    )
    assert set(r1["test"]) == {"surface_energy", "work_function"}  # STL: one model per task
    # the recorded test systems are the grouped split's, held out whole from training and validation
    tr, va, te = make_split("grouped", len(groups), groups, 0)
    test_systems = set(r1["test_systems"])
    assert len(test_systems) >= 2 and r1["test_systems"] == sorted(set(groups[te]))
    assert not test_systems & set(groups[tr]) and not test_systems & set(groups[va])
    assert r1["n_train_val_test"] == [len(tr), len(va), len(te)]
    calls = []
    monkeypatch.setattr(table1, "train", lambda *a, **k: calls.append(1))
    r2 = table1.run_variant(
        data, groups, "stl", "grouped", 0, cfg, tmp_path / "res", tmp_path / "runs", progress=False
    )
    assert calls == [] and r2 == r1  # finished cells are read back, not retrained
    summary = table1.summarize([r1])
    table1.write_report(summary, cfg, tmp_path / "t1.md", "test")
    md = (tmp_path / "t1.md").read_text()
    assert "| stl |" in md and "0.0055 / 0.9056" in md and "Grouped by chemical system" in md
    js = json.loads((tmp_path / "t1.json").read_text())
    assert js["results"]["grouped"]["stl"]["surface_energy_mae"]["values"] == [
        r1["test"]["surface_energy"]["mae"]
    ]
