"""The compound class of real shipped bulks, and the class, X element, space group and J/m² σ the
wulff table of a real screen carries (equal to its compounds table's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from semcgcnn.pipeline.screen.compound_class import (
    CLASSES,
    INTERMETALLIC,
    IONIC,
    SEMICONDUCTOR,
    compound_class,
)

EXPECTED = {
    "mp-23210": ("MgCl2", IONIC),
    "mp-13032": ("MgS", IONIC),
    "mp-23710": ("MgH2", IONIC),
    "mp-23205": ("MgI2", IONIC),
    "mp-1559": ("Mg3N2", IONIC),
    "mp-1265": ("MgO", IONIC),
    "mp-29771": ("MgC2", IONIC),
    "mp-8085": ("Mg3P2", SEMICONDUCTOR),
    "mp-10760": ("MgSe", SEMICONDUCTOR),
    "mp-7623": ("MgAs4", SEMICONDUCTOR),
    "mp-1367": ("Mg2Si", SEMICONDUCTOR),
    "mp-1039": ("MgTe", SEMICONDUCTOR),
    "mp-763": ("MgB2", SEMICONDUCTOR),
    "mp-1124": ("MgZn2", INTERMETALLIC),
    "mp-1039019": ("MgAl", INTERMETALLIC),
    "mp-2151": ("Mg17Al12", INTERMETALLIC),
    "mp-2343": ("Mg2Sn", INTERMETALLIC),  # by element: Sn is a metal
    "mp-569018": ("Mg3Bi2", INTERMETALLIC),
}


@pytest.fixture(scope="module")
def bundled():
    from semcgcnn.pipeline.screen.candidates import screen_candidates

    return {c.compound_id: c for c in screen_candidates("bundled").candidates}


def test_shipped_bulks_get_the_class_of_their_partner(bundled):
    for cid, (formula, cls) in EXPECTED.items():
        cand = bundled[cid]
        assert (cand.formula, compound_class(cand.X_element)) == (formula, cls), cid
    counts = pd.Series([compound_class(c.X_element) for c in bundled.values()]).value_counts()
    # the 210 shipped binaries: 20 ionic (Br, C, Cl, F, H, I, N, O, S),
    # 23 semiconductor/Zintl (As, B, Ge, P, Sb, Se, Si, Te), the other 167 with a metal
    assert counts.to_dict() == {INTERMETALLIC: 167, SEMICONDUCTOR: 23, IONIC: 20}


def test_a_compound_of_several_partners_takes_the_least_metallic_class(bundled):
    """The bundled set holds binaries only: a ternary's partners as ``describe`` writes them (the
    Materials Project ternaries of ``--max-elements 3``), from real binaries' partners."""
    from pymatgen.core import Structure

    from semcgcnn.pipeline.screen.candidates import describe

    mgal, mgs = bundled["mp-1039019"].structure, bundled["mp-13032"].structure
    # MgAl with one Al swapped for S, and for Si: Mg, Al and the third element in one cell
    for x, cls in (("S", IONIC), ("Si", SEMICONDUCTOR), ("Zn", INTERMETALLIC)):
        s = Structure.from_sites(mgal.sites)
        s.append(x, [0.5, 0.5, 0.0])
        cand = describe("t", s, "file")
        assert cand.X_element == ",".join(sorted(["Al", x]))
        assert compound_class(cand.X_element) == cls
    assert compound_class("Cl,P") == IONIC and compound_class("") == INTERMETALLIC
    assert compound_class(describe("mgs", mgs, "file").X_element) == IONIC


def test_wulff_table_carries_the_compounds_class_x_and_space_group(mixed_screen):
    from semcgcnn.pipeline.screen import results
    from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

    comp, _ = results.read_table(mixed_screen, "compounds")
    wulff, _ = results.read_table(mixed_screen, "wulff")
    both = wulff.merge(comp, on="compound_id", suffixes=("", "_c"), validate="one_to_one")
    assert len(both) == len(wulff) == len(comp) == 13
    for col in ("X_element", "compound_class", "spacegroup_symbol"):
        assert both[col].tolist() == both[f"{col}_c"].tolist(), col
    assert set(wulff["compound_class"]) == set(CLASSES)
    # the three MgCl2 polymorphs told apart in the wulff table alone
    mgcl2 = wulff[wulff["formula"] == "MgCl2"].set_index("compound_id")["spacegroup_symbol"].to_dict()
    assert mgcl2 == {"mp-23210": "R-3m", "mp-570259": "P-3m1", "mp-570922": "P-4m2"}
    ev, jm2 = (wulff[f"weighted_surface_energy_{u}_std"].to_numpy(float) for u in ("eV_per_A2", "J_per_m2"))
    assert np.isfinite(ev).sum() == 13 and 0.0 < np.nanmin(ev)
    np.testing.assert_allclose(jm2, ev * EV_PER_A2_TO_J_PER_M2, rtol=1e-12)
    np.testing.assert_allclose(jm2, ev * 16.0218, rtol=1e-5)
    # the compounds table's own class column, from X_element
    assert comp.set_index("compound_id")["compound_class"].to_dict() == {
        cid: compound_class(x) for cid, x in zip(comp["compound_id"], comp["X_element"], strict=True)
    }
