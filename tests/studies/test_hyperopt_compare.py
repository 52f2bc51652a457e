"""The hyper-parameter comparison study (``studies/hyperopt_compare.py``) on a real two-trial TPE
search of Mg–X slabs."""

from __future__ import annotations

import json

import pytest

from semcgcnn.model.config import HyperoptConfig
from semcgcnn.model.training.tpe_search import MgData, paper_params, run_search

# every 20th Mg–X slab (161 rows), one epoch per trial: a real search in seconds
CFG = HyperoptConfig(max_evals=3, epochs=1, row_stride=20, n_startup=2, threads=1)


@pytest.fixture(scope="module")
def data():
    return MgData(CFG.row_stride)


def test_comparison_study_reports_best_and_paper_test_maes(tmp_path, data):
    import hyperopt_compare

    run_search(tmp_path / "s", HyperoptConfig(**{**CFG.to_dict(), "max_evals": 2}), progress=False, data=data)
    report = tmp_path / "hyperopt.md"
    hyperopt_compare.main(
        search=tmp_path / "s",
        results_dir=tmp_path / "cmp",
        report_path=report,
        only="",
        splits="grouped,random",
        report_only=False,
        threads=1,
        note="",
    )
    payload = json.loads(report.with_suffix(".json").read_text())
    assert [t["params"] for t in payload["trials"]][0] == paper_params() and len(payload["trials"]) == 2
    assert payload["best"]["val_loss"] == min(t["val_loss"] for t in payload["trials"])
    for split in ("grouped", "random"):
        for name in ("best", "paper"):
            r = payload["comparison"][split][name]
            assert r["split"] == split and r["epochs"] == 1
            assert 0 < r["test_mae_surface_energy_eV_per_A2"] < 0.2 and 0 < r["test_mae_work_function_eV"] < 3
    assert payload["comparison"]["grouped"]["paper"]["params"] == paper_params()
    assert "| grouped | best |" in report.read_text()
