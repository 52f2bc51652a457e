"""`semcgcnn predict` speaks like `semcgcnn screen`: the screen's asymmetric-slab flag and verdict on
every row, and the predictions printed as a table after writing, on real slabs."""

from __future__ import annotations

import pandas as pd

SHIPPED_SLAB = "620db5b01f9bc37c981e4507"  # a real shipped Mg–Se DFT slab (84 atoms, symmetric)


def _mgag_cuts():
    """Plain pymatgen cuts of the shipped MgAg (mp-2696, CsCl type): (0 0 1) stacks Mg and Ag planes
    alternately, so its 6-atom cut has an Mg face and an Ag face; (1 1 0) planes hold both elements."""
    from pymatgen.core.surface import SlabGenerator

    from semcgcnn.datasets import load
    from semcgcnn.pipeline.slabs import conventional_cell

    (bulk,) = [r.structure for r in load("mg_binary_bulk") if r.structure_id == "mp-2696"]
    conv = conventional_cell(bulk)[0]
    (c001,) = SlabGenerator(conv, (0, 0, 1), 10, 15, center_slab=True).get_slabs()
    (c110,) = SlabGenerator(conv, (1, 1, 0), 10, 15, center_slab=True).get_slabs()
    return c001, c110


def test_predict_flags_an_asymmetric_cut_and_prints_the_table(cli, mg_records, tmp_path):
    from semcgcnn.model.applicability import IN_DOMAIN
    from semcgcnn.pipeline.predict.files import ASYMMETRIC_SLAB
    from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

    c001, c110 = _mgag_cuts()
    # pymatgen's own test agrees: the (0 0 1) cut's faces differ (Mg below, Ag on top)
    assert not c001.is_symmetric() and c110.is_symmetric()
    species = [s.specie.symbol for s in sorted(c001, key=lambda s: s.coords[2])]
    assert species[0] != species[-1]
    slabs = tmp_path / "slabs"
    slabs.mkdir()
    (shipped,) = [r.structure for r in mg_records if r.structure_id == SHIPPED_SLAB]
    (slabs / "A_MgSe_shipped.json").write_text(shipped.to_json())
    (slabs / "B_MgAg_001_cut.json").write_text(c001.to_json())
    for i in range(21):  # 23 files in all: the printed table stops at 20 rows
        (slabs / f"MgAg_110_{i:02d}.json").write_text(c110.to_json())
    out = tmp_path / "preds.parquet"

    res = cli("predict", str(slabs), "--out", str(out))

    assert res.returncode == 0, res.stderr
    preds = pd.read_parquet(out).set_index("structure_id")
    assert len(preds) == 23
    assert bool(preds.loc["A_MgSe_shipped", "symmetric_slab"]) is True
    assert bool(preds.loc["B_MgAg_001_cut", "symmetric_slab"]) is False
    assert preds.loc["MgAg_110_00":, "symmetric_slab"].all()
    assert not preds["out_of_domain"].any()  # Mg–Se and Mg–Ag: systems the model trained on
    assert preds.loc["A_MgSe_shipped", "verdict"] == IN_DOMAIN
    assert preds.loc["B_MgAg_001_cut", "verdict"] == ASYMMETRIC_SLAB
    assert ASYMMETRIC_SLAB.endswith("(γ the mean of two faces)")  # the screen's words for such slabs

    rows = {
        cells[0]: cells
        for line in res.stdout.splitlines()
        if line.startswith("│") and len(cells := [c.strip() for c in line.strip("│").split("│")]) == 5
    }
    assert len(rows) == 20 and "A_MgSe_shipped" in rows and "B_MgAg_001_cut" in rows
    assert "MgAg_110_20" not in rows and "MgAg_110_19" not in rows  # rows 21-23 are not printed
    assert f"… 3 more rows in {out}" in res.stdout
    for sid in ("A_MgSe_shipped", "B_MgAg_001_cut"):
        p = preds.loc[sid]
        se, sd = p["surface_energy_eV_per_A2"], p["surface_energy_eV_per_A2_std"]
        assert rows[sid][1:] == [
            f"{se:.4f} ± {sd:.4f}",
            f"{se * EV_PER_A2_TO_J_PER_M2:.3f} ± {sd * EV_PER_A2_TO_J_PER_M2:.3f}",
            f"{p['work_function_eV']:.2f} ± {p['work_function_eV_std']:.2f}",
            p["verdict"],
        ]
    assert "23 slabs predicted (0 outside the training domain, 1 asymmetric)" in res.stdout
