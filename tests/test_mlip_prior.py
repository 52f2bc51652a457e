"""The ML-potential prior of issue #15 item 6 (studies/mlip_prior.py), on the committed SevenNet
7net-0 energies of the shipped slabs, bulks and elemental references
(reports/mlip_prior_energies.parquet, written by studies/mlip_energies.py)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlip_prior

REPO = Path(__file__).resolve().parents[1]
ENERGIES = REPO / "reports" / "mlip_prior_energies.parquet"


@pytest.fixture(scope="module")
def energies() -> pd.DataFrame:
    return pd.read_parquet(ENERGIES)


@pytest.fixture(scope="module")
def features(energies) -> pd.DataFrame:
    return mlip_prior.hull_features(energies).set_index("structure_id")


def _energy(energies, kind, sid) -> tuple[float, int]:
    row = energies[(energies.kind == kind) & (energies.id == sid)].iloc[0]
    return float(row.energy_eV), int(row.n_atoms)


def _mg_b_diagram(energies):
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    el = energies[energies.kind == "element"].set_index("id")
    entries = [PDEntry(Composition(s), el.loc[s].energy_eV / el.loc[s].n_atoms, name=s) for s in ("Mg", "B")]
    bulks = energies[(energies.kind == "bulk") & energies.formula.map(
        lambda f: {e.symbol for e in Composition(f).elements} == {"Mg", "B"})]
    entries += [PDEntry(Composition(r.formula), r.energy_eV, name=r.id) for r in bulks.itertuples()]
    return PhaseDiagram(entries), {e.name: e for e in entries}


def test_stoichiometric_slab_of_a_hull_phase_is_referenced_to_that_bulk(energies, features):
    """MgB7 (mp-978275) is on the 7net-0 Mg–B hull; its slab 620db5b6…4c5c (Mg24B168) is
    stoichiometric, so γ_MLIP is the usual bulk-referenced surface energy and ΔH(x) is MgB7's
    formation energy against the elemental references."""
    diagram, entries = _mg_b_diagram(energies)
    assert diagram.get_e_above_hull(entries["mp-978275"]) == pytest.approx(0.0, abs=1e-9)
    e_slab, n_slab = _energy(energies, "slab", "620db5b61f9bc37c981e4c5c")
    e_bulk, n_bulk = _energy(energies, "bulk", "mp-978275")
    e_mg, e_b = entries["Mg"].energy_per_atom, entries["B"].energy_per_atom
    f = features.loc["620db5b61f9bc37c981e4c5c"]
    assert f.excess_eV == pytest.approx(e_slab - n_slab * e_bulk / n_bulk, abs=1e-6)
    dh = e_bulk / n_bulk - (1 / 8 * e_mg + 7 / 8 * e_b)
    assert f.dH_hull_eV_per_atom == pytest.approx(dh, abs=1e-9)
    assert -0.3 < dh < 0.0  # MgB7 is bound


def test_slab_of_a_phase_above_the_hull_is_referenced_to_the_hull(energies, features):
    """MgB4 (mp-365, the only MgB4 shipped) lies 30 meV/atom above the 7net-0 hull: its
    stoichiometric slab 620db5c3…56c0 (Mg36B144) is referenced to the hull (MgB2 + MgB7), so its
    excess energy is larger than against the MgB4 bulk by N × that distance."""
    diagram, entries = _mg_b_diagram(energies)
    above = diagram.get_e_above_hull(entries["mp-365"])
    assert 0.02 < above < 0.04
    e_slab, n_slab = _energy(energies, "slab", "620db5c31f9bc37c981e56c0")
    e_bulk, n_bulk = _energy(energies, "bulk", "mp-365")
    f = features.loc["620db5c31f9bc37c981e56c0"]
    assert f.excess_eV == pytest.approx(e_slab - n_slab * (e_bulk / n_bulk - above), abs=1e-6)


def test_every_slab_has_a_row_and_missing_energies_stay_nan(energies, features):
    slabs = energies[energies.kind == "slab"]
    assert len(features) == len(slabs) == 3218
    missing = slabs[slabs.energy_eV.isna()].id
    assert len(missing) == 259  # the slabs above 200 atoms, not computed (their reason says so)
    assert features.loc[missing, "excess_eV"].isna().all()
    # ΔH(x) needs no slab energy: it exists wherever the system's elements are in 7net-0
    assert features.loc[missing, "dH_hull_eV_per_atom"].notna().mean() > 0.9
    computed = features.drop(index=missing)
    # a surface costs energy: the computed slabs lie above their system's hull, except 8 of Mg–Pd and
    # Mg–P (7net-0 puts those slabs below the hull of the shipped bulks: a phase the table lacks, or
    # the potential's error); the prior keeps them as measured
    below = computed.excess_eV.dropna() <= 0
    assert below.sum() == 8
    assert np.isfinite(computed.excess_eV).mean() > 0.97


# ---- the opt-in prior in the screen (semcgcnn screen --mlip-prior; pipeline.mlip_prior)

def _structure(structure_json: str):
    import json

    from pymatgen.core import Structure

    return Structure.from_dict(json.loads(structure_json))


@pytest.fixture(scope="module")
def al_screens(tmp_path_factory):
    """The same small screen (Mg–Al, two compounds) without and with the prior."""
    pytest.importorskip("sevenn")
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
    prior = al_screens["prior"]["predictions"].set_index("slab_id").loc[plain.index]
    assert len(plain) == 46 and (prior["model_id"].str.endswith("+" + card.card_id)).all()
    slabs = al_screens["prior"]["slabs"].set_index("slab_id")
    some = plain.index[::9]
    g = np.array([gamma_mlip(_structure(slabs.loc[i, "structure_json"])) for i in some])
    assert np.isfinite(g).all() and (g > 0).all()
    expected = card.weight_network * plain.loc[some, "surface_energy_eV_per_A2"] + \
        (1 - card.weight_network) * (card.line_a * g + card.line_b_eV_per_A2)
    assert np.allclose(prior.loc[some, "surface_energy_eV_per_A2"], expected, rtol=0, atol=1e-6)
    assert np.allclose(prior["surface_energy_eV_per_A2_std"], card.weight_network * plain["surface_energy_eV_per_A2_std"],
                       rtol=1e-5)
    assert np.allclose(prior["work_function_eV"], plain["work_function_eV"], rtol=0, atol=1e-9)
    # the Wulff shapes follow the blended γ
    w_plain, w_prior = (al_screens[d]["wulff"].set_index("compound_id") for d in ("plain", "prior"))
    assert not np.allclose(w_plain["weighted_surface_energy_eV_per_A2"], w_prior["weighted_surface_energy_eV_per_A2"])


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
    slab = next(s for s in map(_structure, slabs[slabs["compound_id"] == "mp-2151"]["structure_json"])
                if s.composition.reduced_formula == "Mg17Al12")
    m = slab.lattice.matrix
    expected = (energy(slab) - len(slab) * energy(bulk) / len(bulk)) / (2 * np.linalg.norm(np.cross(m[0], m[1])))
    assert gamma_mlip(slab) == pytest.approx(expected, abs=2e-5)
    assert 0.02 < expected < 0.06  # eV/Å²: a metal surface


def test_the_flow_carries_the_prior_and_screens_without_it_keep_their_manifest():
    """``--engine jobflow`` builds its jobs from the maker's config: the flag must survive the
    round trip through the maker and plain JSON; without it the manifest's parameters are unchanged
    (a screen made before the prior existed still resumes)."""
    from semcgcnn.pipeline.screen.config import ScreenConfig
    from semcgcnn.workflows.screen.maker import ScreeningMaker

    cfg = ScreenConfig(elements=("Al",), limit=2, mlip_prior=True)
    maker = ScreeningMaker(config=cfg)
    assert maker.config.mlip_prior is True
    assert ScreenConfig.from_parameters(maker.config.parameters()).mlip_prior is True
    plain = {k: v for k, v in maker.as_dict().items() if not k.startswith("@")}
    assert ScreeningMaker(**plain).config.mlip_prior is True
    assert "mlip_prior" not in ScreenConfig(elements=("Al",)).parameters()
