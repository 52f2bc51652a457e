"""Labelling without a DFT code: the slabs to label, the bulk checks, the chemical-potential
convention against a hand calculation, the Flow's shape, and one-line CLI errors before any job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from backends_required import requires_gpaw, requires_mlip

from semcgcnn.pipeline.labelling.calc import CalcResult, LabelError
from semcgcnn.pipeline.labelling.references import check_bulk, elemental_reference
from semcgcnn.pipeline.labelling.slabs import free_atoms, label_slabs
from semcgcnn.geometry import face_area
from semcgcnn.pipeline.labelling.surface import BULK_REFERENCE, surface_energy
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

SEMCGCNN = str(Path(sys.executable).with_name("semcgcnn"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SEMCGCNN, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def hcp_mg():
    return elemental_reference("Mg")


@pytest.fixture(scope="module")
def mg_mp_bulk():
    """A real Mg–X bulk of the shipped Materials Project set with non-stoichiometric slabs: Mg2Si."""
    from semcgcnn.datasets import load

    return next(r.structure for r in load("mg_binary_bulk") if r.structure.composition.reduced_formula == "Mg2Si")


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
    (row, slab), = label_slabs(hcp_mg, "Mg", [(0, 0, 1)])[0]
    with pytest.raises(LabelError, match="not a bulk crystal: an empty gap of 1[0-9].[0-9] Å along lattice vector c"):
        check_bulk(slab)
    disordered = hcp_mg.copy()
    disordered.replace(0, {"Mg": 0.5, "Al": 0.5})
    with pytest.raises(LabelError, match="partially occupied"):
        check_bulk(disordered)
    check_bulk(hcp_mg)  # the real bulk passes


def _calc(structure, energy: float, kind: str) -> CalcResult:
    return CalcResult(kind=kind, energy_eV=energy, n_atoms=len(structure), structure=structure.as_dict(),
                      code="hand", code_version="0", method="hand")


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


def test_label_cli_refuses_bad_input_in_one_line_before_any_job(tmp_path, hcp_mg):
    (row, slab), = label_slabs(hcp_mg, "Mg", [(0, 0, 1)])[0]
    slab_file = tmp_path / "slab.json"
    slab_file.write_text(json.dumps(slab.as_dict()))
    bulk_file = tmp_path / "Mg.json"
    bulk_file.write_text(json.dumps(hcp_mg.as_dict()))
    cases = {
        (str(slab_file), "--backend", "gpaw"): "not a bulk crystal",
        (str(tmp_path / "missing.cif"), "--backend", "gpaw"): "missing.cif",
        (str(bulk_file), "--backend", "quantum"): "unknown backend 'quantum'",
        (str(bulk_file), "--backend", "gpaw", "--preset", "huge"): "unknown preset 'huge'",
        (str(bulk_file), "--backend", "gpaw", "--dry-run"): "use it with --backend vasp",
    }
    for args, message in cases.items():
        out = _cli("label", *args, "--out", str(tmp_path / "out"), "--miller", "0", "0", "1")
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and message in out.stderr, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "out" / "jobflow").exists()  # no job ever started


@pytest.fixture(scope="module")
def mg_file(tmp_path_factory, hcp_mg):
    path = tmp_path_factory.mktemp("bulk") / "Mg.json"
    path.write_text(json.dumps(hcp_mg.as_dict()))
    return path


def _labels(out: Path):
    import pandas as pd

    return pd.read_parquet(out / "labels.parquet"), pd.read_parquet(out / "errors.parquet")


@requires_gpaw
def test_label_mg0001_with_gpaw_matches_materials_project(mg_file, tmp_path):
    """The issue's check: GPAW fast preset, Mg(0001) within 15 % of 0.0318 eV/Å² and 0.25 eV of 3.61 eV
    (Materials Project PBE), through the command line (jobflow run_locally), both faces reported."""
    out = _cli("label", str(mg_file), "--miller", "0", "0", "1", "--backend", "gpaw", "--preset", "fast",
               "--out", str(tmp_path / "gpaw"))
    assert out.returncode == 0, out.stderr
    labels, errors = _labels(tmp_path / "gpaw")
    assert len(labels) == 1 and len(errors) == 0
    row = labels.iloc[0]
    assert row.structure_id == "Mg_0_0_1_t0" and row.miller_index == "(0 0 1)" and row.termination_index == 0
    assert abs(row.surface_energy_eV_per_A2 / 0.0318 - 1) < 0.15
    assert row.surface_energy_J_per_m2 == pytest.approx(row.surface_energy_eV_per_A2 * EV_PER_A2_TO_J_PER_M2)
    for wf in (row.work_function_bottom_eV, row.work_function_top_eV, row.work_function_eV):
        assert abs(wf - 3.61) < 0.25
    assert abs(row.work_function_bottom_eV - row.work_function_top_eV) < 0.02  # a symmetric slab
    assert row.work_function_available and row.backend == "gpaw" and row.preset == "fast"
    assert row.method.startswith("GPAW ") and "PBE PW 250 eV" in row.method and row.slab_relaxed
    assert row.chemical_potential_convention == BULK_REFERENCE
    from pymatgen.core import Structure

    unrelaxed = Structure.from_dict(json.loads(row.structure_json))  # what training reads: the unrelaxed slab
    assert len(unrelaxed) == 6 and unrelaxed.composition.reduced_formula == "Mg"
    assert json.loads(row.settings_json)["slab"]["ecut_eV"] == 250.0
    assert "Mg_0_0_1_t0 (0 0 1): γ 0.03" in out.stdout


@requires_mlip
def test_label_mg0001_with_the_ml_potential_has_no_work_function(mg_file, tmp_path):
    out = _cli("label", str(mg_file), "--miller", "0", "0", "1", "--backend", "mlip", "--out", str(tmp_path / "ml"))
    assert out.returncode == 0, out.stderr
    labels, errors = _labels(tmp_path / "ml")
    row = labels.iloc[0]
    assert len(labels) == 1 and len(errors) == 0 and row.backend == "mlip"
    # SevenNet 7net-0: 0.47 J/m² against PBE's 0.54 (reports/mlip_surface_energy.md: MLIPs run low)
    assert 0.40 < row.surface_energy_J_per_m2 < 0.55
    assert not row.work_function_available and np.isnan(row.work_function_eV)
    assert "SevenNet" in row.method and "Φ bottom/top n/a" in out.stdout


def test_vasp_dry_run_writes_the_papers_inputs_for_bulk_and_every_slab(mg_file, tmp_path, monkeypatch):
    from pymatgen.io.vasp import Incar, Kpoints, Poscar

    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    out = _cli("label", str(mg_file), "--max-index", "1", "--backend", "vasp", "--dry-run", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    root = tmp_path / "vasp_inputs"
    cut, _ = label_slabs(elemental_reference("Mg"), "Mg", None, 1)
    assert sorted(p.name for p in root.iterdir()) == sorted(["Mg_bulk", *(r["slab_id"] for r, _ in cut)])
    for r, slab in cut:
        for step in ("relax", "static"):
            incar = Incar.from_file(root / r["slab_id"] / step / "INCAR")
            assert incar["ENCUT"] == 480 and incar["EDIFF"] == 1e-4 and incar["GGA"].upper() == "PE"
            assert incar["LVHAR"] is True and incar["LDIPOL"] is True and incar["IDIPOL"] == 3
            assert Kpoints.from_file(root / r["slab_id"] / step / "KPOINTS").kpts[0][2] == 1
            assert (root / r["slab_id"] / step / "POTCAR.spec").read_text().split() == ["Mg_pv"]
        relax = Incar.from_file(root / r["slab_id"] / "relax" / "INCAR")
        assert relax["EDIFFG"] == -0.02 and relax["ISIF"] == 2
        poscar = Poscar.from_file(root / r["slab_id"] / "relax" / "POSCAR")
        assert np.array_equal(np.array(poscar.selective_dynamics)[:, 2], free_atoms(poscar.structure))
    assert f"{len(cut) + 1} VASP input folders" in out.stdout


FIREWORKS_ADD = """
import json, sys
from fireworks import LaunchPad
from jobflow.managers.fireworks import flow_to_workflow
from pymatgen.core import Structure
from semcgcnn.workflows.labelling.maker import SurfacePropertyMaker
bulk = Structure.from_dict(json.load(open(sys.argv[1])))
flow = SurfacePropertyMaker(backend="gpaw", preset="fast", miller=(0, 0, 1)).make(bulk, "Mg", sys.argv[2])
lp = LaunchPad()
lp.reset("", require_password=False)
lp.add_wf(flow_to_workflow(flow))
"""


@requires_gpaw
def test_the_label_flow_runs_on_fireworks_like_run_locally(mg_file, tmp_path):
    """The same SurfacePropertyMaker Flow on a FireWorks LaunchPad (embedded mode) and rlaunch: every
    Firework completes and its last job writes the same label as the command line's run_locally."""
    from fireworks_embedded import fireworks_env

    env = {**os.environ, "COLUMNS": "200", **fireworks_env(tmp_path)}
    launches, out = tmp_path / "launches", tmp_path / "fw_labels"
    launches.mkdir()
    add = subprocess.run([sys.executable, "-c", FIREWORKS_ADD, str(mg_file), str(out)], env=env, cwd=launches,
                         capture_output=True, text=True, timeout=300)
    assert add.returncode == 0, add.stderr
    fire = subprocess.run([str(Path(sys.executable).with_name("rlaunch")), "rapidfire"], env=env, cwd=launches,
                          capture_output=True, text=True, timeout=600)
    assert fire.returncode == 0, fire.stderr
    labels, errors = _labels(out)
    assert len(labels) == 1 and len(errors) == 0
    local = _cli("label", str(mg_file), "--miller", "0", "0", "1", "--backend", "gpaw", "--preset", "fast",
                 "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    ref, _ = _labels(tmp_path / "local")
    # same code, same settings: equal up to SCF convergence (GPAW fast: 1e-3 eV per electron)
    assert labels.surface_energy_eV_per_A2[0] == pytest.approx(ref.surface_energy_eV_per_A2[0], rel=1e-3)
    assert labels.work_function_eV[0] == pytest.approx(ref.work_function_eV[0], abs=5e-3)
    # each GPAW job ran in its own FireWorks launch folder
    assert len(list(launches.rglob("gpaw.txt"))) == 2


@requires_gpaw
@pytest.mark.slow
def test_gpaw_relabels_a_shipped_li2mg_slab_close_to_its_vasp_label(tmp_path):
    """A stoichiometric slab of the shipped Mg–X set (Li2Mg, 18 atoms; its relaxed VASP-PBE label
    0.0320 eV/Å², 3.007 eV) relabelled with GPAW fast against the shipped MP bulk: the comparison
    of reports/gpaw_dataset_slab.json (measured: +1 % in γ, +0.02 eV in Φ), held to 15 % and 0.25 eV."""
    from gpaw_dataset_slab import DEFAULT_SLAB, compare

    res = compare(DEFAULT_SLAB, "fast", tmp_path)
    assert res["formula"] == "Li2Mg" and res["n_atoms"] == 18 and res["bulk_id"] == "mp-976843"
    assert abs(res["relative_difference_surface_energy"]) < 0.15
    assert abs(res["difference_work_function_eV"]) < 0.25
    assert abs(res["gpaw_work_function_bottom_eV"] - res["gpaw_work_function_top_eV"]) < 0.02  # symmetric slab


@requires_mlip
def test_relax_bulk_cuts_the_slabs_from_the_relaxed_cell(mg_file, hcp_mg, tmp_path):
    """--relax-bulk relaxes the bulk's cell (SevenNet: hcp Mg's a 3.203 → 3.19 Å) and the labelled
    slab is cut again from that cell, so its unrelaxed structure carries the relaxed in-plane lattice."""
    from pymatgen.core import Structure

    out = _cli("label", str(mg_file), "--miller", "0", "0", "1", "--backend", "mlip", "--relax-bulk",
               "--out", str(tmp_path / "rb"))
    assert out.returncode == 0, out.stderr
    labels, errors = _labels(tmp_path / "rb")
    assert len(labels) == 1 and len(errors) == 0 and labels.bulk_relaxed[0]
    slab = Structure.from_dict(json.loads(labels.structure_json[0]))
    assert abs(slab.lattice.a - hcp_mg.lattice.a) > 0.005  # the cell relaxed; the slab follows it
    assert len(slab) == 6 and 0.40 < labels.surface_energy_J_per_m2[0] < 0.55
