"""GPAW backend, real runs (no mocks): Mg bulk + Mg(0001) slab with the ``fast`` preset give the
reference surface energy and work function; failures are one-line LabelErrors.
Skipped where no interpreter can import gpaw (install: apt-get install -y gpaw gpaw-data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from backends_required import requires_gpaw
from pymatgen.core import Lattice, Structure

from semcgcnn.pipeline.labelling import gpaw as G
from semcgcnn.pipeline.labelling.calc import CalcResult, LabelError
from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
from semcgcnn.pipeline.labelling.surface import surface_energy, work_functions

GAMMA_REF = 0.0318  # eV/Å², Mg(0001)
WF_REF = 3.61  # eV


pytestmark = requires_gpaw


def mg_bulk() -> Structure:
    return Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 1 / 4]]
    )


@pytest.fixture(scope="module")
def bulk(tmp_path_factory) -> CalcResult:
    return G.run_gpaw(mg_bulk(), "bulk", "fast", tmp_path_factory.mktemp("bulk"))


@pytest.fixture(scope="module")
def slab_run(bulk, tmp_path_factory):
    from semcgcnn.pipeline.slabs import SlabConfig, conventional_cell, slabs_for_miller

    conv, _, _ = conventional_cell(bulk.pmg_structure())
    slabs, errors = slabs_for_miller(conv, (0, 0, 1), SlabConfig())
    assert slabs and not errors
    slab = with_fixed_interior(slabs[0])
    return slab, G.run_gpaw(slab, "slab", "fast", tmp_path_factory.mktemp("slab"))


def test_bulk_result(bulk):
    assert bulk.kind == "bulk" and bulk.code == "GPAW" and bulk.n_atoms == 2
    assert bulk.method.startswith(f"GPAW {bulk.code_version} PBE PW 250 eV, FD 0.1 eV, k 10x10x5")
    assert bulk.settings["kpts"] == [10, 10, 5] and bulk.potential_z_eV is None
    assert -3.5 < bulk.energy_per_atom_eV < -0.5  # PAW energies are relative to the atoms
    assert (Path(bulk.dir_name) / "gpaw.txt").exists()
    assert CalcResult.from_dict(bulk.as_dict()).energy_eV == bulk.energy_eV


def test_mg0001_surface_energy_and_work_function(bulk, slab_run):
    slab, res = slab_run
    assert res.n_atoms == len(slab) == 6
    assert res.settings["kpts"][:2] == bulk.settings["kpts"][:2] and res.settings["kpts"][2] == 1
    assert res.settings["n_fixed_atoms"] == 2 and res.settings["dipole_correction"]
    gamma = surface_energy(res, bulk).eV_per_A2
    assert abs(gamma / GAMMA_REF - 1) < 0.15, gamma
    s = res.pmg_structure()
    assert all(s.lattice.pbc)
    bottom, top = work_functions(res.potential_z_eV, res.fermi_eV, s)
    assert abs(bottom - WF_REF) < 0.25 and abs(top - WF_REF) < 0.25, (bottom, top)
    assert abs(bottom - top) < 0.02
    v3 = np.load(Path(res.dir_name) / "potential_3d.npy")
    assert v3.ndim == 3 and len(res.potential_z_eV) == v3.shape[2] + 1  # c = 0 added on the open axis


def test_meshes_match_in_plane():
    b = mg_bulk()
    assert G.kpoint_mesh(b.lattice.matrix, 4.0, "bulk") == (10, 10, 5)
    tilted = Lattice([[3.21, 0, 0], [-1.605, 2.78, 0], [1.0, 0.5, 30.0]])
    assert G.kpoint_mesh(tilted.matrix, 4.0, "slab") == (10, 10, 1)


def test_failed_run_is_one_line_error(tmp_path):
    bad = G.preset("fast", scf_maxiter=1)  # SCF cannot converge in one iteration: GPAW raises
    with pytest.raises(LabelError) as e:
        G.run_gpaw(mg_bulk(), "bulk", bad, tmp_path / "bad", relax=False)
    msg = str(e.value)
    assert "\n" not in msg and "GPAW bulk calculation" in msg and "SCF did not converge (maxiter 1" in msg, (
        msg
    )
    assert not (tmp_path / "bad" / "output.json").exists()


def test_missing_setup_is_caught_before_running(tmp_path):
    from pymatgen.core.periodic_table import Element

    missing = next(
        Element.from_Z(z).symbol for z in range(1, 95) if Element.from_Z(z).symbol not in G.gpaw_elements()
    )
    s = Structure(Lattice.cubic(3.0), [missing], [[0, 0, 0]])
    with pytest.raises(LabelError, match=f"no PBE PAW setup for {missing}") as e:
        G.run_gpaw(s, "bulk", "fast", tmp_path / "x")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "x").exists()
    G.check_gpaw([mg_bulk()])  # Mg has one


def test_bad_interpreter_is_one_line_error(monkeypatch):
    monkeypatch.setattr(G, "_PYTHON", None)
    monkeypatch.setenv("SEMCGCNN_GPAW_PYTHON", "/nonexistent/python")
    with pytest.raises(LabelError, match="apt-get install -y gpaw gpaw-data"):
        G.gpaw_python()


def test_timeout_kills_the_run(tmp_path):
    with pytest.raises(LabelError, match=r"no result after 0\.5 s") as e:
        G.run_gpaw(mg_bulk(), "bulk", G.preset("fast", timeout_s=0.5), tmp_path / "slow", relax=False)
    assert "\n" not in str(e.value)


def test_the_cost_law_is_the_benchmarks_measurement():
    """COST_LAW holds bench/label_cost.py's numbers, and its estimates of the benchmark's own cells
    (recomputed from their structures) fall within the spread it states of the measured times."""
    import json
    from pathlib import Path

    import pytest

    from semcgcnn.pipeline.labelling.gpaw import COST_LAW, gpaw_work, preset

    bench = json.loads((Path(__file__).parents[3] / "bench/results/label_cost.json").read_text())
    c = bench["constants"]
    assert COST_LAW.a == pytest.approx(c["a"], rel=1e-3) and COST_LAW.p == pytest.approx(c["p"], rel=1e-3)
    assert COST_LAW.preset_factor == c["preset_factor"] and COST_LAW.relax_factor == c["relax_factor"]
    assert list(COST_LAW.spread) == pytest.approx(c["spread"], abs=0.005)
    import sys

    sys.path.insert(0, str(Path(__file__).parents[3] / "bench"))
    from label_cost import cells

    fast = preset("fast")
    measured = {r["name"]: r for r in bench["runs"]}
    for name, s, kind in cells():
        run = measured[name]
        assert gpaw_work(s, kind, fast) == run["work"]
        law = COST_LAW.a * run["work"] ** COST_LAW.p
        if run["wall_s"] is None:  # timed out: the law says it takes longer than the limit
            assert law > bench["fit"]["timeout_s"]
        else:
            assert COST_LAW.spread[0] - 0.01 <= run["wall_s"] / law <= COST_LAW.spread[1] + 0.01
