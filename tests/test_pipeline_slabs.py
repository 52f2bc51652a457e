"""Slabs of the screening pipeline: hcp Mg facets and terminations, and the fast paths against pymatgen."""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest

warnings.filterwarnings("ignore", module="pymatgen")


@pytest.fixture(scope="module")
def hcp_mg():
    from semcgcnn.datasets import load

    (rec,) = [r for r in load("elemental_refs") if r.structure_id == "Mg-3"]  # MP hcp Mg, 2 sites
    return rec.structure


@pytest.fixture(scope="module")
def bulk():
    from semcgcnn.pipeline.candidates import load_bundled

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
                for kw in ({"tolerance": 0.1, "reduce": False}, {"tolerance": 0.1, "reduce": True},
                           {"constrain_latt": {"a": slab.lattice.a, "b": slab.lattice.b}, "reduce": False}):
                    ours, theirs = get_primitive_structure(slab, **kw), slab.get_primitive_structure(**kw)
                    assert ours == theirs and np.allclose(ours.lattice.matrix, theirs.lattice.matrix)
                    assert np.allclose(ours.frac_coords, theirs.frac_coords)
                    reduced += len(ours) < len(slab)
    assert reduced > 0  # the centred cells did reduce


def test_lost_terminations_are_retried_thicker_or_reported(bulk):
    from semcgcnn.pipeline.slabs import SlabConfig, compound_slabs

    li2mg = bulk["mp-977218"]
    plain = compound_slabs("mp-977218", li2mg, SlabConfig(retry_thickness_factors=()))
    retried = compound_slabs("mp-977218", li2mg, SlabConfig())
    assert len(plain.errors) == 2 and all(e["stage"] == "slabs" and "termination" in e["reason"] and
                                          e["id"] == "mp-977218" for e in plain.errors)
    assert (len(plain.slabs), len(retried.slabs), retried.errors) == (23, 27, [])
    assert {r["min_slab_size_A"] for r in retried.slabs} == {10.0, 15.0}


def test_a_structure_without_symmetry_analysis_becomes_an_error_row():
    from pymatgen.core import Lattice, Structure

    from semcgcnn.pipeline.slabs import compound_slabs

    overlapping = Structure(Lattice.cubic(3.0), ["Mg", "Mg"], [[0, 0, 0], [0, 0, 1e-9]])
    res = compound_slabs("bad", overlapping)
    assert res.slabs == [] and res.errors == [
        {"stage": "slabs", "reason": "symmetry analysis failed: Unable to determine symmetry", "id": "bad"}]
