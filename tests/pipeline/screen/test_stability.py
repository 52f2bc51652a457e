"""The estimated energy above the hull of the bundled candidates (``pipeline.screen.stability``):
the shipped 7net-0 energies, the estimates of real compounds, the columns of a real screen and the
``trust`` reason of a real unstable polymorph."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from backends_required import requires_mlip

from semcgcnn.pipeline.screen.stability import (
    ENERGIES,
    ESTIMATE,
    UNSTABLE,
    UNSTABLE_EV_PER_ATOM,
    bundled_estimates,
    energies,
    stability,
)


def _per_atom(sid: str) -> float:
    e = energies().set_index("id")
    return float(e.loc[sid, "energy_eV"] / e.loc[sid, "n_atoms"])


def test_shipped_energies_cover_every_bundled_bulk_and_its_elements():
    from pymatgen.core import Composition

    from semcgcnn.datasets import load

    e = energies()
    assert e["kind"].value_counts().to_dict() == {"bulk": 210, "element": 88}
    assert e["energy_eV"].notna().all()
    bulk = e[e.kind == "bulk"].set_index("id")
    shipped = {b.structure_id: b.structure for b in load("mg_binary_bulk")}
    assert set(bulk.index) == set(shipped)
    for sid, s in shipped.items():
        assert Composition(bulk.loc[sid, "formula"]) == s.composition and bulk.loc[sid, "n_atoms"] == len(s)
    assert (ENERGIES.parent / "PROVENANCE.md").read_text().count("mlip_7net0_energies.parquet") >= 2


@requires_mlip
def test_shipped_energy_is_a_7net0_single_point_of_the_shipped_cell():
    """MgNi mp-1010953 (2 atoms) recomputed here: the file holds single points of the cells as shipped."""
    from semcgcnn.datasets import load
    from semcgcnn.pipeline.labelling.mlip import mlip_energy_per_atom

    (s,) = [b.structure for b in load("mg_binary_bulk") if b.structure_id == "mp-1010953"]
    assert mlip_energy_per_atom(s) == pytest.approx(_per_atom("mp-1010953"), abs=1e-5)


def test_estimates_of_real_compounds():
    est = bundled_estimates()
    assert len(est) == 210 and {s.source for s in est.values()} == {ESTIMATE}
    values = [s.e_above_hull_eV_per_atom for s in est.values()]
    assert all(math.isfinite(v) and v >= -1e-9 for v in values)
    # the stable phase of a system is on its hull by construction
    for sid in ("mp-408", "mp-2151", "mp-1124", "mp-1367", "mp-2343"):  # Mg2Ge, Mg17Al12, MgZn2, Mg2Si, Mg2Sn
        assert est[sid].e_above_hull_eV_per_atom == pytest.approx(0.0, abs=1e-6)
    # a polymorph of a hull formula lies above it by the difference of the two energies per atom
    # (Mg2Ge mp-250 against antifluorite mp-408; Mg2Sn mp-570543 against mp-2343)
    for poly, ground in (("mp-250", "mp-408"), ("mp-570543", "mp-2343")):
        above = _per_atom(poly) - _per_atom(ground)
        assert est[poly].e_above_hull_eV_per_atom == pytest.approx(above, abs=1e-9)
        assert above > UNSTABLE_EV_PER_ATOM
    assert est["mp-250"].e_above_hull_eV_per_atom == pytest.approx(0.4816, abs=1e-4)
    # MgB4 above the Mg–B hull by the 30 meV/atom of tests/studies/test_mlip_prior.py; the
    # hypothetical MgW3 and Mg3Mo the PROVENANCE names are far above it
    assert est["mp-365"].e_above_hull_eV_per_atom == pytest.approx(0.0303, abs=1e-4)
    assert est["mp-978264"].e_above_hull_eV_per_atom == pytest.approx(0.3777, abs=1e-4)
    assert est["mp-978287"].e_above_hull_eV_per_atom == pytest.approx(0.3047, abs=1e-4)
    # CaMg: the B2 (Pm-3m) cell is within 3 meV/atom of the 7net-0 hull; R-3m and P-6m2 are above the bound
    assert est["mp-1039148"].e_above_hull_eV_per_atom == pytest.approx(0.0025, abs=1e-4)
    assert est["mp-1039368"].unstable and est["mp-1038961"].unstable
    # how many of the 210 the trust bound takes out (the count README.md quotes)
    assert sum(s.unstable for s in est.values()) == 29


def test_other_sources_are_unknown_with_a_reason_or_their_own_value():
    """A structure file, or an MP document without the field: NaN with a reason. An MP candidate
    carries MP's own energy_above_hull (the query asks for it; the value here is the query's)."""
    from semcgcnn.pipeline.screen.candidates import describe, load_bundled, mp_query

    (camg,) = [c for c in load_bundled() if c.compound_id == "mp-1039368"]
    assert stability(camg).unstable
    for source in ("file", "mp"):  # the same structure from a file or a Materials Project query
        s = stability(describe("mp-1039368", camg.structure, source))
        assert math.isnan(s.e_above_hull_eV_per_atom) and s.source == "" and s.reason and not s.unstable
    assert "energy_above_hull" in mp_query()["fields"]
    s = stability(describe("mp-1039368", camg.structure, "mp", e_above_hull=0.012))
    assert s.e_above_hull_eV_per_atom == 0.012 and s.source == "Materials Project" and not s.unstable
    assert stability(describe("mp-1039368", camg.structure, "mp", e_above_hull=0.3)).unstable


def test_e_above_hull_is_recorded_only_where_it_filters():
    """It bounds a Materials Project query; the bundled set and structure files are not filtered by it."""
    from semcgcnn.pipeline.screen.config import ScreenConfig

    assert "e_above_hull" not in ScreenConfig().parameters()
    assert "e_above_hull" not in ScreenConfig(source="mp", structures="x").parameters()
    p = ScreenConfig(source="mp", e_above_hull=0.02).parameters()
    assert p["e_above_hull"] == 0.02 and ScreenConfig.from_parameters(p).e_above_hull == 0.02


def test_screen_tables_carry_the_estimate(mixed_screen):
    from semcgcnn.schema import SCHEMAS

    est = bundled_estimates()
    for name in ("compounds", "wulff"):
        df = pd.read_parquet(mixed_screen / f"{name}.parquet")
        assert list(df.columns) == SCHEMAS[name].names and len(df) == 13
        assert (df["e_above_hull_source"] == ESTIMATE).all()
        want = [est[c].e_above_hull_eV_per_atom for c in df["compound_id"]]
        assert df["e_above_hull_eV_per_atom"].tolist() == pytest.approx(want, abs=1e-12)
    w = pd.read_parquet(mixed_screen / "wulff.parquet").set_index("compound_id")
    assert w.loc["mp-570922", "e_above_hull_eV_per_atom"] == pytest.approx(0.0916, abs=1e-4)  # MgCl2
    assert not w["trust"].str.contains(UNSTABLE, regex=False).any()  # all 13 within the bound
    manifest = json.loads((mixed_screen / "run.json").read_text())
    assert "e_above_hull" not in manifest["parameters"]


@pytest.fixture(scope="module")
def camg_wulff() -> pd.DataFrame:
    """The real screen rows of the three 2-atom CaMg cells."""
    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.pipeline.screen.batch import screen_batch
    from semcgcnn.pipeline.screen.candidates import screen_candidates
    from semcgcnn.pipeline.screen.run import cut_slabs
    from semcgcnn.pipeline.slabs import SlabConfig

    ca = screen_candidates("bundled", elements=["Ca"], max_atoms=2).candidates
    found = [c for c in ca if c.formula == "CaMg"]
    assert sorted(c.compound_id for c in found) == ["mp-1038961", "mp-1039148", "mp-1039368"]
    cut = [(c, cut_slabs(c.compound_id, c.structure, SlabConfig())) for c in found]
    return screen_batch(cut, load_pretrained())["wulff"].set_index("compound_id")


def test_unstable_polymorph_is_not_trusted(camg_wulff):
    from semcgcnn.pipeline.screen.ranking import ranked_rows
    from semcgcnn.pipeline.screen.rows import TRUST_REASONS

    assert UNSTABLE in TRUST_REASONS
    for sid in ("mp-1039368", "mp-1038961"):  # R-3m, P-6m2: 0.14 eV/atom above the hull
        row = camg_wulff.loc[sid]
        assert row["e_above_hull_eV_per_atom"] > UNSTABLE_EV_PER_ATOM
        assert UNSTABLE in row["trust"].split("; ")
    b2 = camg_wulff.loc["mp-1039148"]
    assert b2["spacegroup_symbol"] == "Pm-3m" and UNSTABLE not in b2["trust"]
    assert camg_wulff.loc["mp-1039368", "spacegroup_symbol"] == "R-3m"
    ranked = camg_wulff.index[ranked_rows(camg_wulff.reset_index())]
    assert "mp-1039368" not in ranked and "mp-1038961" not in ranked
