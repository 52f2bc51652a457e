"""Shipped datasets: counts, units, labels and the structure cache."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pandas as pd
import pytest

from semcgcnn.datasets import DATASETS, TARGETS, labels, load, load_arrays
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

EXPECTED_ROWS = {
    "mg_binary_slabs": 3218,
    "elemental_slabs": 801,
    "palizhati_slabs": 3033,
    "mg_binary_bulk": 210,
    "elemental_refs": 789,
}


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_row_counts_and_provenance(name):
    df = labels(name)
    assert len(df) == EXPECTED_ROWS[name]
    assert df["structure_id"].is_unique
    assert DATASETS[name].provenance.exists()
    for t in DATASETS[name].targets:
        assert TARGETS[t].column in df.columns


def test_units_and_ranges_of_slab_targets():
    mg = labels("mg_binary_slabs")
    se, wf = mg["surface_energy_eV_per_A2"], mg["work_function_eV"]
    # values quoted in the data's PROVENANCE (eV/Å² and eV)
    assert se.min() == pytest.approx(0.00194, abs=1e-5) and se.max() < 0.1874
    assert 1.9 < wf.min() < wf.max() < 6.15
    assert mg["chemsys"].nunique() == 43
    # the shipped metadata's J/m² column is the eV/Å² value × 16.0218
    meta = pd.read_csv(DATASETS["mg_binary_slabs"].path / "metadata.csv")
    np.testing.assert_allclose(se * EV_PER_A2_TO_J_PER_M2, meta["surface_energy_J_per_m2"], rtol=1e-4)
    el = labels("elemental_slabs").set_index("structure_id")
    assert el.loc["78Mg0001", "surface_energy_eV_per_A2"] == pytest.approx(0.03182, abs=1e-5)
    assert el.loc["78Mg0001", "work_function_eV"] == pytest.approx(3.6145, abs=1e-4)
    assert "work_function_eV" not in labels("palizhati_slabs").columns


def test_records_carry_structure_targets_units_and_source(mg_records):
    r = mg_records[0]
    assert r.structure_id == "620db5b01f9bc37c981e4507"
    assert r.structure.composition.reduced_formula == "MgSe2" and len(r.structure) == 84
    assert r.targets == {"surface_energy": pytest.approx(0.050650688), "work_function": pytest.approx(5.4447)}
    assert r.units == {"surface_energy": "eV/Å²", "work_function": "eV"}
    assert r.chemsys == "Mg-Se" and r.source == "mg_binary_slabs"
    # the site count of every slab matches the dataset's metadata
    assert [len(x.structure) for x in mg_records] == list(labels("mg_binary_slabs")["nsites"])


def test_bulk_sets():
    bulk = {r.structure_id: r for r in load("mg_binary_bulk")}
    assert bulk["mp-866286"].structure.composition.reduced_formula == "AcMg"
    assert all("Mg" in r.chemsys.split("-") for r in bulk.values())
    refs = labels("elemental_refs")
    assert refs["chemsys"].nunique() == 88
    mg_lowest = refs[(refs.chemsys == "Mg") & refs.is_lowest_energy]["energy_per_atom_eV_per_atom"]
    assert float(mg_lowest.iloc[0]) == pytest.approx(-1.6003, abs=1e-4)


def _small_copy(tmp_path, n=5):
    """A real 5-slab subset of the elemental set, laid out like the shipped folder."""
    src = DATASETS["elemental_slabs"].path
    root = tmp_path / "elemental_subset"
    root.mkdir()
    ids = (src / "id_prop.csv").read_text().splitlines()[:n]
    (root / "id_prop.csv").write_text("\n".join(ids) + "\n")
    meta = (src / "metadata.csv").read_text().splitlines()[: n + 1]
    (root / "metadata.csv").write_text("\n".join(meta) + "\n")
    wanted = {line.split(",")[0] for line in ids}
    with tarfile.open(next(src.glob("*.tar.xz")), "r:xz") as tin:
        members = {
            m.name.split("/")[-1][:-4]: tin.extractfile(m).read() for m in tin if m.name.endswith(".cif")
        }
    return root, wanted, members


def _write_archive(root, cifs: dict[str, bytes]):
    with tarfile.open(root / "subset.tar.xz", "w:xz") as tout:
        for sid, data in cifs.items():
            info = tarfile.TarInfo(f"subset/{sid}.cif")
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))


def test_structure_cache_reused_and_rebuilt_when_inputs_change(tmp_path, monkeypatch):
    from semcgcnn.datasets import structures

    monkeypatch.setenv("SEMCGCNN_CACHE_DIR", str(tmp_path / "cache"))
    root, wanted, members = _small_copy(tmp_path)
    ids = sorted(wanted)
    _write_archive(root, {s: members[s] for s in ids})

    calls = []
    real = structures.parse_structures
    monkeypatch.setattr(
        structures, "parse_structures", lambda raw, **kw: calls.append(len(raw)) or real(raw, **kw)
    )

    first = load_arrays("elemental_slabs", root=root)[1]
    again = load_arrays("elemental_slabs", root=root)[1]
    assert calls == [5]  # parsed once, then served from the Parquet cache
    np.testing.assert_array_equal(first.frac_coords, again.frac_coords)
    assert len(list((tmp_path / "cache" / "structures").glob("*.parquet"))) == 1

    # replace one slab's CIF by another real slab: the cache must be rebuilt
    other = next(k for k in members if k not in wanted)
    _write_archive(root, {**{s: members[s] for s in ids}, ids[0]: members[other]})
    rebuilt = {r.structure_id: r for r in load("elemental_slabs", root=root)}
    assert calls == [5, 5]
    assert len(list((tmp_path / "cache" / "structures").glob("*.parquet"))) == 1  # stale file removed
    nsites = labels("elemental_slabs").set_index("structure_id")["nsites"]
    assert len(rebuilt[ids[0]].structure) == nsites[other] != first.atom_ptr[1]
    assert len(rebuilt[ids[1]].structure) == nsites[ids[1]]


def test_unknown_dataset_name_is_a_clear_error():
    with pytest.raises(KeyError, match="shipped datasets"):
        labels("no_such_set")
