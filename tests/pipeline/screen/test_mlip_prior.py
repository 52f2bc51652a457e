"""The opt-in ML-potential prior in the screen (``semcgcnn screen --mlip-prior``,
``semcgcnn.pipeline.screen.mlip_prior``): every member's γ blended with the SevenNet 7net-0 surface
energy, on a real small screen."""

import numpy as np
import pandas as pd
import pytest
from backends_required import requires_mlip

pytestmark = requires_mlip


def _structure(structure_json: str):
    import json

    from pymatgen.core import Structure

    return Structure.from_dict(json.loads(structure_json))


@pytest.fixture(scope="module")
def al_screens(tmp_path_factory):
    """The same small screen (Mg–Al, two compounds) without and with the prior."""
    from semcgcnn.pipeline.screen.config import ScreenConfig
    from semcgcnn.pipeline.screen.run import run_screen

    base = tmp_path_factory.mktemp("prior")
    cfg = ScreenConfig(elements=("Al",), limit=2)
    run_screen(cfg, base / "plain", workers=1)
    run_screen(ScreenConfig(elements=("Al",), limit=2, mlip_prior=True), base / "prior", workers=1)
    read = lambda d, t: pd.read_parquet(base / d / f"{t}.parquet")  # noqa: E731
    return {d: {t: read(d, t) for t in ("predictions", "slabs", "wulff")} for d in ("plain", "prior")}


def test_screen_with_prior_blends_every_member(al_screens):
    """γ = w·γ_net + (1 − w)(a·γ_MLIP + b) for every slab; the 1σ shrinks by exactly w (each member
    moves by the same line); Φ is untouched; the model id names the prior."""
    from semcgcnn.pipeline.screen.mlip_prior import PriorCard, gamma_mlip

    card = PriorCard.load()
    plain = al_screens["plain"]["predictions"].set_index("slab_id")
    # both screens predict every slab they cut, the same slabs, once each
    for d in ("plain", "prior"):
        ids = al_screens[d]["predictions"]["slab_id"]
        assert ids.is_unique and set(ids) == set(al_screens[d]["slabs"]["slab_id"])
    assert set(al_screens["prior"]["slabs"]["slab_id"]) == set(plain.index)
    prior = al_screens["prior"]["predictions"].set_index("slab_id").loc[plain.index]
    assert (prior["model_id"] == plain["model_id"] + "+" + card.card_id).all()
    slabs = al_screens["prior"]["slabs"].set_index("slab_id")
    some = plain.index[::9]
    g = np.array([gamma_mlip(_structure(slabs.loc[i, "structure_json"])) for i in some])
    assert np.isfinite(g).all() and (g > 0).all()
    expected = card.weight_network * plain.loc[some, "surface_energy_eV_per_A2"] + (
        1 - card.weight_network
    ) * (card.line_a * g + card.line_b_eV_per_A2)
    assert np.allclose(prior.loc[some, "surface_energy_eV_per_A2"], expected, rtol=0, atol=1e-6)
    assert np.allclose(
        prior["surface_energy_eV_per_A2_std"],
        card.weight_network * plain["surface_energy_eV_per_A2_std"],
        rtol=1e-5,
    )
    assert np.allclose(prior["work_function_eV"], plain["work_function_eV"], rtol=0, atol=1e-9)
    # the Wulff shapes follow the blended γ
    w_plain, w_prior = (al_screens[d]["wulff"].set_index("compound_id") for d in ("plain", "prior"))
    assert not np.allclose(
        w_plain["weighted_surface_energy_eV_per_A2"], w_prior["weighted_surface_energy_eV_per_A2"]
    )


def test_prior_of_a_stoichiometric_slab_is_its_bulk_surface_energy(al_screens):
    """Mg17Al12 (mp-2151) is on the 7net-0 Mg–Al hull, so γ_MLIP of its stoichiometric slabs is
    (E_slab − N·E_bulk/atom)/2A with 7net-0 energies computed here directly."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from sevenn.calculator import SevenNetCalculator

    from semcgcnn.datasets import load
    from semcgcnn.pipeline.screen.mlip_prior import gamma_mlip

    calc = SevenNetCalculator("7net-0", device="cpu")

    def energy(s):
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = calc
        return float(atoms.get_potential_energy())

    bulk = next(b.structure for b in load("mg_binary_bulk") if b.structure_id == "mp-2151")
    slabs = al_screens["prior"]["slabs"]
    slab = next(
        s
        for s in map(_structure, slabs[slabs["compound_id"] == "mp-2151"]["structure_json"])
        if s.composition.reduced_formula == "Mg17Al12"
    )
    m = slab.lattice.matrix
    expected = (energy(slab) - len(slab) * energy(bulk) / len(bulk)) / (
        2 * np.linalg.norm(np.cross(m[0], m[1]))
    )
    assert gamma_mlip(slab) == pytest.approx(expected, abs=2e-5)
    assert 0.02 < expected < 0.06  # eV/Å²: a metal surface
