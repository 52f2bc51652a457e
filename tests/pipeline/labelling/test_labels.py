"""Labelling without a DFT code: the slabs to label, the bulk checks and the chemical-potential
convention against a hand calculation."""

from __future__ import annotations

import pytest

from semcgcnn.geometry import face_area
from semcgcnn.pipeline.labelling.calc import CalcResult, LabelError
from semcgcnn.pipeline.labelling.references import check_bulk, elemental_reference
from semcgcnn.pipeline.labelling.slabs import free_atoms, label_slabs
from semcgcnn.pipeline.labelling.surface import BULK_REFERENCE, surface_energy


def test_mg_reference_is_hcp_and_its_0001_slab_is_the_screens(hcp_mg):
    assert hcp_mg.get_space_group_info()[1] == 194 and len(hcp_mg) == 2
    cut, errors = label_slabs(hcp_mg, "Mg", [(0, 0, 1)])
    assert errors == [] and len(cut) == 1
    row, slab = cut[0]
    assert row["slab_id"] == "Mg_0_0_1_t0" and row["stoichiometric"] and row["symmetric"]
    assert row["n_atoms"] == 6 and row["slab_thickness_A"] >= 10.0 and row["vacuum_A"] >= 15.0
    # paper §2.1: atoms within 3 Å of a surface relax: the two outer planes of each face (c/2 = 2.56 Å apart)
    assert free_atoms(slab).sum() == 4


def test_bulk_checks_refuse_a_slab_and_partial_occupancy(hcp_mg):
    ((row, slab),) = label_slabs(hcp_mg, "Mg", [(0, 0, 1)])[0]
    with pytest.raises(
        LabelError, match="not a bulk crystal: an empty gap of 1[0-9].[0-9] Å along lattice vector c"
    ):
        check_bulk(slab)
    disordered = hcp_mg.copy()
    disordered.replace(0, {"Mg": 0.5, "Al": 0.5})
    with pytest.raises(LabelError, match="partially occupied"):
        check_bulk(disordered)
    check_bulk(hcp_mg)  # the real bulk passes


def _calc(structure, energy: float, kind: str) -> CalcResult:
    return CalcResult(
        kind=kind,
        energy_eV=energy,
        n_atoms=len(structure),
        structure=structure.as_dict(),
        code="hand",
        code_version="0",
        method="hand",
    )


def test_mg_rich_convention_matches_a_hand_calculation(mg_mp_bulk, hcp_mg):
    """Mg2Si's (1 0 0)-type slabs include non-stoichiometric terminations; their γ uses μ_Mg = E(hcp Mg)
    per atom and μ_Si = (E(Mg2Si)/N − 2/3 μ_Mg) · 3, checked here against the formula written out."""
    cut, _ = label_slabs(mg_mp_bulk, "Mg2Si", None, 1)
    off = [(r, s) for r, s in cut if not r["stoichiometric"]]
    on = [(r, s) for r, s in cut if r["stoichiometric"]]
    assert off and on, "Mg2Si has both kinds of slabs up to (111)"
    e_bulk_atom, e_mg = -4.0, -1.6  # energies per atom (eV): the formula's inputs, not a result
    bulk = _calc(mg_mp_bulk, e_bulk_atom * len(mg_mp_bulk), "bulk")
    ref = _calc(hcp_mg, e_mg * len(hcp_mg), "bulk")
    row, slab = off[0]
    n = slab.composition.get_el_amt_dict()
    e_slab = -4.0 * len(slab) + 0.5
    mu_si = (e_bulk_atom - 2 / 3 * e_mg) / (1 / 3)
    expected = (e_slab - n["Mg"] * e_mg - n["Si"] * mu_si) / (2 * face_area(slab.lattice.matrix))
    got = surface_energy(_calc(slab, e_slab, "slab"), bulk, ref)
    assert got.eV_per_A2 == pytest.approx(expected, rel=1e-12)
    assert got.chemical_potentials_eV == pytest.approx({"Mg": e_mg, "Si": mu_si})
    assert got.convention.startswith("Mg-rich limit")
    with pytest.raises(LabelError, match="needs a Mg reference calculation"):
        surface_energy(_calc(slab, e_slab, "slab"), bulk, None)
    row, slab = on[0]
    stoich = surface_energy(_calc(slab, e_bulk_atom * len(slab) + 1.0, "slab"), bulk, ref)
    assert stoich.eV_per_A2 == pytest.approx(1.0 / (2 * face_area(slab.lattice.matrix)))
    assert stoich.convention == BULK_REFERENCE and stoich.chemical_potentials_eV == {}


def test_the_two_elemental_reference_rules_differ_for_mg_only(hcp_mg):
    """The labels' rule (hcp Mg) and the ML-potential single points' rule (lowest-energy polymorph)
    pick the same shipped structure for every element but Mg, whose lowest-energy entry is fcc."""
    from semcgcnn.pipeline.labelling.references import HCP_MG, LOWEST_ENERGY, reference_elements

    elements = sorted(reference_elements())
    differ = [
        el for el in elements if elemental_reference(el, HCP_MG) != elemental_reference(el, LOWEST_ENERGY)
    ]
    assert len(elements) == 88 and differ == ["Mg"]
    fcc = elemental_reference("Mg", rule=LOWEST_ENERGY)
    assert fcc.get_space_group_info()[1] == 225 and len(fcc) == 1 and elemental_reference("Mg") == hcp_mg
    with pytest.raises(LabelError, match="unknown elemental reference rule"):
        elemental_reference("Mg", rule="cheapest")
