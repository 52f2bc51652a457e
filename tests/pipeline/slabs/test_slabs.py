"""Slabs of the screening pipeline: hcp Mg facets and terminations, and the fast paths against pymatgen."""

from __future__ import annotations

import re
import warnings
from collections import Counter

import numpy as np
import pytest

warnings.filterwarnings("ignore", module="pymatgen")


@pytest.fixture(scope="module")
def bulk():
    from semcgcnn.pipeline.screen.candidates import load_bundled

    return {c.compound_id: c.structure for c in load_bundled()}


def _structure(row):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(row["lattice"]), list(row["atomic_numbers"]), row["frac_coords"])


def test_hcp_mg_facets_terminations_thickness_and_symmetry(hcp_mg):
    from pymatgen.core.surface import Slab

    from semcgcnn.pipeline.slabs import SlabConfig, compound_slabs

    res = compound_slabs("Mg", hcp_mg, SlabConfig())
    assert res.spacegroup_symbol == "P6_3/mmc" and res.errors == []
    # the five distinct facets up to (111) of the hexagonal lattice: (10-10) and (10-11) have two
    # terminations (cut between the close or the wide pair of planes), the others one
    facets = Counter((r["miller_h"], r["miller_k"], r["miller_l"]) for r in res.slabs)
    assert facets == {(1, 0, 0): 2, (0, 0, 1): 1, (1, 1, 0): 1, (1, 0, 1): 2, (1, 1, 1): 1}
    for r in res.slabs:
        assert Slab.is_symmetric(_structure(r))  # pymatgen's own check, symprec 0.1
        assert r["slab_thickness_A"] >= 10.0 - 1e-6 and r["vacuum_A"] >= 15.0 - 1e-6
        assert r["stoichiometric"] and r["formula"] == "Mg"
        assert r["n_atoms"] == len(r["atomic_numbers"])
    assert len({r["slab_id"] for r in res.slabs}) == len(res.slabs)


def test_fast_symmetry_check_and_grouping_agree_with_pymatgen(bulk):
    """The cheap height test + one spglib call answers like Slab.is_symmetric on every slab
    seen while symmetrising, and the pruned grouping gives StructureMatcher's groups."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure
    from pymatgen.core.surface import Slab

    from semcgcnn.pipeline import slabs as S

    conv, _, _ = S.conventional_cell(bulk["mp-977218"])  # Li2Mg, Cmcm: 23 symmetric slabs
    gen = S.FastSlabGenerator(conv, (1, 1, 1), 10.0, 15.0, center_slab=True)
    gen.symprec, gen.lost = 0.1, []
    terminations = [gen.slab_at(t, 0.1, 10.0) for t in gen.gen_possible_terminations(0.1)]
    matcher = StructureMatcher(ltol=0.1, stol=0.1, primitive_cell=False, scale=False)
    expected = sorted(sorted(id(s) for s in g) for g in matcher.group_structures(terminations))
    assert sorted(sorted(id(s) for s in g) for g in S.group_slabs(terminations, 0.1)) == expected

    checked = 0
    for slab in terminations:
        frac, numbers = slab.frac_coords, np.array(slab.atomic_numbers)
        keep = np.arange(len(slab))
        while len(keep) > len(conv):  # the structures nonstoichiometric_symmetrized_slab looks at
            s = Structure(slab.lattice, numbers[keep].tolist(), frac[keep])
            assert S.is_symmetric(s, 0.1) == Slab.is_symmetric(s, 0.1)
            keep = np.delete(keep, int(np.argmax(frac[keep, 2])))
            checked += 1
    assert checked > 50


def test_vectorised_primitive_cell_equals_pymatgens(bulk):
    from pymatgen.core import Structure

    from semcgcnn.pipeline import slabs as S
    from semcgcnn.pipeline.slabs.primitive import get_primitive_structure

    reduced = 0
    for cid in ("mp-977218", "mp-2481"):  # Li2Mg (C-centred), Mg2Cu (F-centred)
        conv, _, _ = S.conventional_cell(bulk[cid])
        for miller in ((1, 0, 0), (1, 1, 1)):
            gen = S.FastSlabGenerator(conv, miller, 10.0, 15.0, primitive=False)
            for t in gen.gen_possible_terminations(0.1)[:2]:
                slab = Structure.from_sites(gen.get_slab(shift=t, tol=0.1))
                for kw in (
                    {"tolerance": 0.1, "reduce": False},
                    {"tolerance": 0.1, "reduce": True},
                    {"constrain_latt": {"a": slab.lattice.a, "b": slab.lattice.b}, "reduce": False},
                ):
                    ours, theirs = get_primitive_structure(slab, **kw), slab.get_primitive_structure(**kw)
                    assert ours == theirs and np.allclose(ours.lattice.matrix, theirs.lattice.matrix)
                    assert np.allclose(ours.frac_coords, theirs.frac_coords)
                    reduced += len(ours) < len(slab)
    assert reduced > 0  # the centred cells did reduce


def _slab_key(row: dict) -> tuple:
    """A slab row without its termination number (renumbered when slabs are added): facet, shift,
    atoms, formula, target thickness."""
    return (
        row["miller_index"],
        round(row["shift_frac"], 6),
        row["n_atoms"],
        row["formula"],
        row["min_slab_size_A"],
    )


def _cut_at(result, min_slab_size_A: float) -> list[dict]:
    return [r for r in result.slabs if r["min_slab_size_A"] == min_slab_size_A]


def _assert_terminations(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    """The same (facet, shift) terminations, shifts to the 4 decimals an error row prints."""
    assert [m for m, _ in got] == [m for m, _ in want], (got, want)
    np.testing.assert_allclose([x for _, x in got], [x for _, x in want], rtol=0, atol=6e-5)


def test_lost_terminations_are_retried_thicker_or_reported(bulk, monkeypatch):
    from semcgcnn.pipeline.slabs import SlabConfig, compound_slabs
    from semcgcnn.pipeline.slabs.generator import FastSlabGenerator

    li2mg = bulk["mp-977218"]
    with monkeypatch.context() as m:  # pymatgen's symmetrisation alone, then with thicker retries
        m.setattr(FastSlabGenerator, "mirrored_slab", lambda *a, **k: None)
        plain = compound_slabs("mp-977218", li2mg, SlabConfig(retry_thickness_factors=()))
        retried = compound_slabs("mp-977218", li2mg, SlabConfig())
    assert len(plain.errors) == 2 and all(
        e["stage"] == "slabs" and "termination" in e["reason"] and e["id"] == "mp-977218"
        for e in plain.errors
    )
    # the lost terminations, as the error rows name them: facet and shift (4 decimals)
    lost = sorted(
        (m, float(x))
        for m, x in (
            re.match(r"(\(\d \d \d\)) termination at shift ([\d.]+):", e["reason"]).groups()
            for e in plain.errors
        )
    )
    assert retried.errors == []
    # the retries keep every slab of the plain cut and add the lost terminations, cut thicker
    base = SlabConfig().min_slab_size_A
    first_retry = base * SlabConfig().retry_thickness_factors[0]  # the first retry recovers them all
    assert Counter(map(_slab_key, _cut_at(retried, base))) == Counter(map(_slab_key, plain.slabs))
    thicker = _cut_at(retried, first_retry)
    assert {r["min_slab_size_A"] for r in retried.slabs} == {base, first_retry}
    _assert_terminations(sorted({(r["miller_index"], r["shift_frac"]) for r in thicker}), lost)
    # the default: the thicker retries recover them first, so the rebuilt slabs change nothing here
    assert compound_slabs("mp-977218", li2mg, SlabConfig()).slabs == retried.slabs
    # without retries, the lost terminations are rebuilt instead (one plane on both faces): one slab each
    rebuilt = compound_slabs("mp-977218", li2mg, SlabConfig(retry_thickness_factors=()))
    assert rebuilt.errors == [] and len(rebuilt.slabs) == len(plain.slabs) + len(lost)
    added = Counter(map(_slab_key, rebuilt.slabs)) - Counter(map(_slab_key, plain.slabs))
    assert sum(added.values()) == len(lost)
    _assert_terminations(sorted((m, x) for m, x, *_ in added), lost)


def test_a_structure_without_symmetry_analysis_becomes_an_error_row():
    from pymatgen.core import Lattice, Structure

    from semcgcnn.pipeline.slabs import compound_slabs

    overlapping = Structure(Lattice.cubic(3.0), ["Mg", "Mg"], [[0, 0, 0], [0, 0, 1e-9]])
    res = compound_slabs("bad", overlapping)
    assert res.slabs == [] and res.errors == [
        {"stage": "slabs", "reason": "symmetry analysis failed: Unable to determine symmetry", "id": "bad"}
    ]


# ----------------------------------------------------------------- every termination


def _hcp_mg_321():
    from pymatgen.core import Lattice, Structure

    return Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]]
    )


def _faces(row, ftol=0.1):
    """Sorted species of the bottom and of the top atomic plane of a slab row."""
    from semcgcnn.geometry import heights_along_normal

    z, _ = heights_along_normal(np.asarray(row["lattice"]), np.asarray(row["frac_coords"]))
    zn = np.asarray(row["atomic_numbers"])
    return sorted(zn[z <= z.min() + ftol].tolist()), sorted(zn[z >= z.max() - ftol].tolist())


def _without_mirrored(monkeypatch, cid, structure):
    """The compound's slabs without rebuilt terminations."""
    from semcgcnn.pipeline.slabs import compound_slabs
    from semcgcnn.pipeline.slabs.generator import FastSlabGenerator

    with monkeypatch.context() as m:
        m.setattr(FastSlabGenerator, "mirrored_slab", lambda *a, **k: None)
        return compound_slabs(cid, structure)


# compound -> (slabs per Miller index, lost terminations per Miller index), all hand-checked below
CASES = {
    "hcp-Mg": ({(1, 0, 0): 2, (0, 0, 1): 1, (1, 1, 0): 1, (1, 0, 1): 2, (1, 1, 1): 1}, {}),
    "mp-2696": ({(1, 0, 0): 2, (1, 1, 0): 1, (1, 1, 1): 2}, {}),  # MgAg, B2 (CsCl) Pm-3m, 2 atoms
    "mp-10760": ({(1, 0, 0): 1, (1, 1, 0): 1, (1, 1, 1): 2}, {}),  # MgSe rocksalt Fm-3m
    "mp-18316": ({(1, 0, 0): 3, (1, 1, 0): 4, (1, 1, 1): 5}, {}),  # Mg2Pd Fd-3m: 8 rebuilt
    # Mg17Al12 I-43m, 58 atoms: (1 1 1) is polar in -43m (no inversion, no 2-fold axis or mirror
    # across [111]): none of its 7 terminations has a symmetric slab; their asymmetric slabs stand in
    "mp-2151": ({(1, 0, 0): 11, (1, 1, 0): 13}, {}),
}
POLAR = {"mp-2151": {(1, 1, 1): 7}}  # asymmetric slabs per Miller index (terminations of polar directions)


@pytest.fixture(scope="module")
def structures(bulk):
    return {"hcp-Mg": _hcp_mg_321(), **{k: bulk[k] for k in CASES if k.startswith("mp-")}}


@pytest.mark.parametrize("cid", list(CASES))
def test_every_termination_symmetric_thick_enough_and_distinct(cid, structures, monkeypatch):
    from pymatgen.core.surface import Slab

    from semcgcnn.pipeline.slabs import compound_slabs, group_slabs, is_symmetric

    res = compound_slabs(cid, structures[cid])
    per_miller, lost = CASES[cid]
    miller = lambda r: (r["miller_h"], r["miller_k"], r["miller_l"])  # noqa: E731
    asymmetric = [r for r in res.slabs if not r["symmetric"]]
    assert Counter(miller(r) for r in asymmetric) == POLAR.get(cid, {})
    for r in asymmetric:  # the plain cut of a polar termination, saying so in words
        s = _structure(r)
        assert not is_symmetric(s) and r["asymmetry_note"].startswith(
            f"{r['miller_index']} termination at shift"
        )
        assert (
            "is a polar direction" in r["asymmetry_note"] and "mean of its two faces" in r["asymmetry_note"]
        )
        assert r["slab_thickness_A"] >= 10.0 - 1e-6 and r["vacuum_A"] >= 15.0 - 1e-6
        assert int(r["slab_id"].rsplit("_t", 1)[1]) >= sum(
            miller(x) == miller(r) and x["symmetric"] for x in res.slabs
        )
    res.slabs = [r for r in res.slabs if r["symmetric"]]
    assert all(r["asymmetry_note"] == "" for r in res.slabs)
    assert Counter(miller(r) for r in res.slabs) == per_miller
    lost_found = Counter(
        tuple(int(x) for x in e["reason"][1 : e["reason"].index(")")].split()) for e in res.errors
    )
    assert lost_found == lost
    structs = [_structure(r) for r in res.slabs]
    for r, s in zip(res.slabs, structs, strict=False):
        assert is_symmetric(s) and Slab.is_symmetric(s)
        assert r["slab_thickness_A"] >= 10.0 - 1e-6 and r["vacuum_A"] >= 15.0 - 1e-6
        assert (
            abs(np.average(s.frac_coords[:, 2], weights=[x.species.weight for x in s]) - 0.5) < 1e-6
        )  # centred
    # distinct terminations within each Miller index, ids unique
    for m in per_miller:
        same = [
            s
            for r, s in zip(res.slabs, structs, strict=False)
            if (r["miller_h"], r["miller_k"], r["miller_l"]) == m
        ]
        assert len(group_slabs(same, 0.1)) == len(same)
    assert len({r["slab_id"] for r in res.slabs}) == len(res.slabs)
    # today's slabs unchanged and first per Miller index; rebuilt ones appended (by shift)
    before = _without_mirrored(monkeypatch, cid, structures[cid])
    before.slabs = [r for r in before.slabs if r["symmetric"]]
    now = {r["slab_id"]: r for r in res.slabs}
    for r in before.slabs:
        assert (
            now[r["slab_id"]]["frac_coords"] == r["frac_coords"]
            and now[r["slab_id"]]["lattice"] == r["lattice"]
        )
    rebuilt = [r for r in res.slabs if r["slab_id"] not in {b["slab_id"] for b in before.slabs}]
    for r in rebuilt:  # the same plane on both faces
        bottom, top = _faces(r)
        assert bottom == top
    n_before = len(before.errors) - len(res.errors)
    assert len(rebuilt) == n_before  # every lost non-polar termination came back, none a duplicate


def _termination(row, bulk_comp):
    """(shift, bottom face species, top face species, excess of the first element per 100 Å²)."""
    zn = list(row["atomic_numbers"])
    els = sorted(bulk_comp.elements, key=lambda e: e.Z)
    if len(els) == 1:
        excess = 0.0
    else:
        (a, b), (na, nb) = (bulk_comp[e] for e in els), (zn.count(e.Z) for e in els)
        excess = (na * b - nb * a) / row["surface_area_A2"] * 100
    bottom, top = _faces(row)
    return round(row["shift_frac"], 4), tuple(bottom), tuple(top), round(excess, 3)


@pytest.mark.parametrize(
    ("cid", "n_pymatgen"), [("hcp-Mg", 7), ("mp-2696", 5), ("mp-10760", 2), ("mp-18316", 0)]
)
def test_slabs_agree_with_pymatgen_where_pymatgen_finds_them(cid, n_pymatgen, structures):
    """pymatgen's SlabGenerator(...).get_slabs(symmetrize=True) on the same conventional cell:
    every slab it returns is one of ours (same shift, composition and face planes)."""
    from pymatgen.core.surface import SlabGenerator, get_symmetrically_distinct_miller_indices

    from semcgcnn.pipeline.slabs import compound_slabs, conventional_cell

    conv, _, _ = conventional_cell(structures[cid])
    bulk_comp = conv.composition.reduced_composition
    ours = compound_slabs(cid, structures[cid]).slabs
    n = 0
    for m in get_symmetrically_distinct_miller_indices(conv, 1):
        theirs = SlabGenerator(conv, m, 10.0, 15.0, center_slab=True, primitive=True).get_slabs(
            symmetrize=True
        )
        # ours are cut so the atoms span >= 10 Å (pymatgen's often span less): compare the
        # termination (shift and the species of both face planes) and the reduced composition
        # termination (shift and the species of both face planes) and the surface excess of one
        # element over the bulk ratio, per Å² (the same for any thickness of a symmetric slab)
        mine = {
            _termination(r, bulk_comp)
            for r in ours
            if (r["miller_h"], r["miller_k"], r["miller_l"]) == tuple(m)
        }
        for s in theirs:
            row = {
                "lattice": s.lattice.matrix,
                "frac_coords": s.frac_coords,
                "atomic_numbers": s.atomic_numbers,
                "shift_frac": s.shift,
                "surface_area_A2": s.surface_area,
            }
            assert _termination(row, bulk_comp) in mine
            n += 1
    assert n == n_pymatgen


def test_polar_rocksalt_111_is_one_species_on_both_faces_with_one_more_layer_of_it(structures):
    """MgSe rocksalt (111): alternating Mg and Se planes of one atom per cell each. A symmetric
    slab ends on the same species on both faces, so it holds exactly one more plane (atom per
    in-plane cell) of that species than of the other: non-stoichiometric by one atom."""
    from semcgcnn.pipeline.slabs import compound_slabs

    rows = [
        r for r in compound_slabs("mp-10760", structures["mp-10760"]).slabs if r["miller_index"] == "(1 1 1)"
    ]
    assert len(rows) == 2
    faces = set()
    for r in rows:
        bottom, top = _faces(r)
        assert bottom == top and len(set(bottom)) == 1
        face = bottom[0]
        other = ({12, 34} - {face}).pop()
        zn = list(r["atomic_numbers"])
        assert zn.count(face) == zn.count(other) + len(bottom) and not r["stoichiometric"]
        faces.add(face)
    assert faces == {12, 34}  # one Mg-terminated, one Se-terminated


def test_rebuilt_fcc_111_terminations_of_rb3mg(structures, bulk, monkeypatch):
    """Rb3Mg (Fm-3m, D0_3-like): pymatgen's symmetrisation loses both (111) terminations even at
    20 Å; the rebuilt slabs end on the same plane at both faces."""
    from semcgcnn.pipeline.slabs import compound_slabs

    before = _without_mirrored(monkeypatch, "mp-1186852", bulk["mp-1186852"])
    after = compound_slabs("mp-1186852", bulk["mp-1186852"])
    assert [e["reason"][:7] for e in before.errors] == ["(1 1 1)"] * 2 and after.errors == []
    new = [r for r in after.slabs if r["miller_index"] == "(1 1 1)"]
    assert [r["slab_id"] for r in new] == ["mp-1186852_1_1_1_t0", "mp-1186852_1_1_1_t1"]
    for r in new:
        bottom, top = _faces(r)
        assert bottom == top and r["slab_thickness_A"] >= 10.0
