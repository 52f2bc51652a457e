"""VASP backend: the dry-run inputs hold the paper's settings (§2.1), the checks before a run, and
the output parsing on real outputs: real VASP outputs (ASE's test data), and a real GPAW run of a
Mg(0001) slab written in VASP's formats (LOCPOT, OUTCAR, CONTCAR), its work function checked
against GPAW's own potential and pymatgen's WorkFunctionAnalyzer."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from backends_required import REQUIRED

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def mg():
    """hcp Mg (experimental a, c) and its symmetric (0001) slab, cut by the pipeline's slab code."""
    from pymatgen.core import Lattice, Structure

    from semcgcnn.pipeline.slabs import SlabConfig, conventional_cell, slabs_for_miller

    bulk = Structure(
        Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )
    slabs, _ = slabs_for_miller(conventional_cell(bulk)[0], (0, 0, 1), SlabConfig())
    return bulk, slabs[0]


@pytest.fixture(scope="module")
def dry(mg, tmp_path_factory, monkeypatch_module):
    from semcgcnn.workflows.labelling.vasp import write_dry_run

    monkeypatch_module.delenv("PMG_VASP_PSP_DIR", raising=False)
    bulk, slab = mg
    root = tmp_path_factory.mktemp("dry")
    cwd = root / "cwd"
    cwd.mkdir()
    (cwd / "INCAR").write_text("user file\n")  # atomate2's clean_prev would delete files in the cwd
    monkeypatch_module.chdir(cwd)
    write_dry_run(slab, "slab", root / "slab")
    write_dry_run(bulk, "bulk", root / "bulk", relax_bulk_cell=True)
    write_dry_run(bulk, "bulk", root / "bulk_fixed_cell")
    assert (cwd / "INCAR").read_text() == "user file\n"
    return root


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _incar(path):
    from pymatgen.io.vasp import Incar

    return Incar.from_file(path)


@pytest.mark.parametrize("kind", ["slab", "bulk"])
@pytest.mark.parametrize("step", ["relax", "static"])
def test_dry_run_incar_holds_paper_settings(dry, kind, step):
    d = dry / kind / step
    assert sorted(os.listdir(d)) == ["INCAR", "KPOINTS", "POSCAR", "POTCAR.spec"]
    inc = _incar(d / "INCAR")
    assert inc["ENCUT"] == 480 and inc["EDIFF"] == 1e-4
    assert inc["GGA"].upper() == "PE" and "METAGGA" not in inc and inc["LDAU"] is False
    if step == "relax":
        assert inc["IBRION"] == 2 and inc["NSW"] > 0 and inc["EDIFFG"] == -0.02
        assert inc["ISIF"] == (2 if kind == "slab" else 3)
    else:
        assert inc["NSW"] == 0 and "EDIFFG" not in inc  # pymatgen drops the force criterion of a single point
    if kind == "slab":
        assert inc["LVHAR"] is True and inc["LDIPOL"] is True and inc["IDIPOL"] == 3
        assert inc["DIPOL"][2] == pytest.approx(0.5, abs=0.02)  # the slab is centred in c
    else:
        assert not any(k in inc for k in ("LVHAR", "LDIPOL", "IDIPOL", "DIPOL"))
    assert (d / "POTCAR.spec").read_text().split() == ["Mg_pv"]


def test_bulk_relax_without_cell_is_isif2(dry):
    assert _incar(dry / "bulk_fixed_cell" / "relax" / "INCAR")["ISIF"] == 2


def test_dry_run_kpoints_one_along_normal(dry, mg):
    from pymatgen.io.vasp import Kpoints

    bulk, slab = mg
    ks = Kpoints.from_file(dry / "slab" / "static" / "KPOINTS")
    kb = Kpoints.from_file(dry / "bulk" / "static" / "KPOINTS")
    assert tuple(ks.kpts[0]) == (16, 16, 1)  # round(50 / 3.21) in-plane
    assert tuple(kb.kpts[0]) == (16, 16, 10)
    assert Kpoints.from_file(dry / "slab" / "relax" / "KPOINTS").kpts == ks.kpts


def test_dry_run_poscar_selective_dynamics(dry, mg):
    from pymatgen.io.vasp import Poscar

    from semcgcnn.pipeline.labelling.slabs import with_fixed_interior

    _, slab = mg
    expected = with_fixed_interior(slab)
    p = Poscar.from_file(dry / "slab" / "relax" / "POSCAR")
    got = {
        tuple(np.round(s.frac_coords, 4)): tuple(sd)
        for s, sd in zip(p.structure, p.selective_dynamics, strict=False)
    }
    want = {tuple(np.round(s.frac_coords, 4)): tuple(s.properties["selective_dynamics"]) for s in expected}
    assert got == want
    assert {v[0] for v in got.values()} == {True, False}  # surfaces free, interior fixed
    assert Poscar.from_file(dry / "bulk" / "relax" / "POSCAR").selective_dynamics is None
    readme = (dry / "slab" / "README.txt").read_text()
    assert "relax/CONTCAR" in readme and "POTCAR.spec" in readme


def test_makers_carry_the_same_generator(dry, mg):
    """The Makers of a real run build exactly the inputs of the dry run: one generator for both."""
    from pymatgen.io.vasp import Incar, Kpoints

    from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
    from semcgcnn.workflows.labelling.vasp import vasp_makers

    relax, static = vasp_makers("slab")
    slab = with_fixed_interior(mg[1])  # what the dry run writes for a slab without constraints
    for step, maker in (("relax", relax), ("static", static)):
        vis = maker.input_set_generator.get_input_set(slab, potcar_spec=True)
        assert vis.incar == Incar.from_file(dry / "slab" / step / "INCAR"), step
        assert vis.kpoints.kpts == Kpoints.from_file(dry / "slab" / step / "KPOINTS").kpts, step
        assert str(vis.poscar) == (dry / "slab" / step / "POSCAR").read_text(), step
    vis = relax.input_set_generator.get_input_set(mg[1], potcar_spec=True)
    assert vis.incar["ISIF"] == 2 and vis.incar["LDIPOL"] is True
    job = relax.make(mg[1])  # a jobflow Job, made offline
    assert job.name == "slab relax (paper)"


def test_check_vasp_errors(monkeypatch, tmp_path):
    from atomate2 import SETTINGS
    from pymatgen.core import Lattice, Structure

    from semcgcnn.pipeline.labelling.calc import LabelError
    from semcgcnn.workflows.labelling.vasp import check_vasp

    check_vasp(dry_run=True)  # nothing needed for a dry run
    monkeypatch.setattr(SETTINGS, "VASP_CMD", "vasp_std_not_installed")
    with pytest.raises(LabelError) as e:
        check_vasp(dry_run=False)
    assert "\n" not in str(e.value) and "vasp_std_not_installed" in str(e.value)
    exe = tmp_path / "vasp_std"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(SETTINGS, "VASP_CMD", "mpirun -np 4 vasp_std")
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    from pymatgen.core import SETTINGS as PMG

    monkeypatch.setitem(PMG, "PMG_VASP_PSP_DIR", None)
    with pytest.raises(LabelError, match="PMG_VASP_PSP_DIR"):
        check_vasp(dry_run=False)
    monkeypatch.setenv("PMG_VASP_PSP_DIR", str(tmp_path / "missing"))
    with pytest.raises(LabelError, match="not a folder"):
        check_vasp(dry_run=False)
    # an element without a POTCAR in the set (Og): one line, before anything runs
    og = Structure(Lattice.cubic(4.0), ["Og"], [[0, 0, 0]])
    with pytest.raises(LabelError, match="no POTCAR for Og") as e:
        check_vasp(dry_run=True, structures=[og])
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def gpaw_slab(mg, tmp_path_factory):
    """A real GPAW run through the project's GPAW backend: the Mg(0001) slab, the fast preset with a
    coarse k-mesh (a few seconds), no relaxation; its result and its 3D potential."""
    from backends_required import have_gpaw

    from semcgcnn.pipeline.labelling.gpaw import preset, run_gpaw

    if not have_gpaw() and not REQUIRED:
        pytest.skip("GPAW not installed (apt-get install -y gpaw gpaw-data)")
    wd = tmp_path_factory.mktemp("gpaw")
    res = run_gpaw(mg[1], "slab", preset("fast", kpt_density_A=1.5), wd, relax=False)
    return res, np.load(wd / "potential_3d.npy")


def test_vasp_files_of_a_real_gpaw_run_parse_as_pymatgen_and_gpaw_read_them(gpaw_slab, tmp_path):
    """A real GPAW run written in VASP's formats (``tests/vasp_files.py``): the parsed energy and
    Fermi level are pymatgen's ``Outcar`` readings, the planar average is GPAW's own potential
    averaged over the plane, and the work functions are GPAW's vacuum plateaus and pymatgen's
    ``WorkFunctionAnalyzer`` on the same files."""
    from pymatgen.analysis.surface_analysis import WorkFunctionAnalyzer
    from pymatgen.io.vasp import Locpot, Outcar
    from vasp_files import write_vasp_files

    from semcgcnn.pipeline.labelling.surface import work_functions
    from semcgcnn.pipeline.labelling.vasp import parse_vasp_dir

    res, v3 = gpaw_slab
    s = res.pmg_structure()
    # GPAW's own vacuum levels: the flat potential next to the cell boundary (its dipole layer is there)
    wf_bottom, wf_top = res.potential_z_eV[1] - res.fermi_eV, res.potential_z_eV[-1] - res.fermi_eV
    folder = write_vasp_files(res, v3, tmp_path / "vasp")
    # LOCPOT convention: the values come back as written (no volume scaling, unlike CHGCAR)
    np.testing.assert_allclose(Locpot.from_file(folder / "LOCPOT").data["total"], v3, rtol=1e-9, atol=1e-9)

    got = parse_vasp_dir(folder, "slab")
    outcar = Outcar(str(folder / "OUTCAR"))
    assert got.code == "VASP" and got.kind == "slab" and got.n_atoms == len(s)
    assert got.energy_eV == outcar.final_energy and got.fermi_eV == outcar.efermi
    assert got.energy_eV == pytest.approx(res.energy_eV, abs=1e-7)
    assert got.pmg_structure().matches(s)
    np.testing.assert_allclose(got.potential_z_eV, v3.mean(axis=(0, 1)), rtol=1e-9, atol=1e-9)
    bottom, top = work_functions(got.potential_z_eV, got.fermi_eV, got.pmg_structure())
    assert bottom == pytest.approx(wf_bottom, abs=0.02)
    assert top == pytest.approx(wf_top, abs=0.02)
    assert 3.5 < bottom < 4.0  # Mg(0001): PBE ≈ 3.7 eV
    wfa = WorkFunctionAnalyzer.from_files(
        str(folder / "POSCAR"), str(folder / "LOCPOT"), str(folder / "OUTCAR")
    )
    assert wfa.efermi == pytest.approx(got.fermi_eV, abs=1e-7)
    assert wfa.work_function == pytest.approx(max(wf_bottom, wf_top), abs=0.02)
    assert wfa.work_function == pytest.approx(max(bottom, top), abs=0.02)


def test_parse_outcar_of_a_real_vasp_run(tmp_path):
    """The OUTCAR branch on a real VASP 5.3.3 output (ASE's test data: a relaxation of an 18-atom Ni
    cluster): energy σ→0 and Fermi level as ASE's own OUTCAR reader gives them and as the file's last
    step prints them, the version from its first line."""
    import shutil
    from pathlib import Path

    ase = pytest.importorskip("ase")
    src = Path(ase.__file__).parent / "test" / "testdata" / "vasp" / "OUTCAR_example_1"
    if not src.exists():
        pytest.skip("ASE's VASP test data are not installed")
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    from semcgcnn.pipeline.labelling.vasp import parse_vasp_dir

    shutil.copy(src, tmp_path / "OUTCAR")
    final = read(tmp_path / "OUTCAR", index=-1)  # ASE: the last ionic step
    AseAtomsAdaptor.get_structure(final).to(filename=str(tmp_path / "CONTCAR"), fmt="poscar")
    got = parse_vasp_dir(tmp_path, "bulk")
    assert got.code_version == "5.3.3" and got.method == "VASP 5.3.3"
    assert got.n_atoms == len(final) == 18 and got.pmg_structure().composition.reduced_formula == "Ni"
    assert got.energy_eV == pytest.approx(final.get_potential_energy(), abs=1e-8)
    assert got.energy_eV == pytest.approx(-68.23102426, abs=1e-8)  # the last "energy(sigma->0)" line
    assert got.fermi_eV == pytest.approx(final.calc.get_fermi_level(), abs=1e-8)
    assert got.fermi_eV == pytest.approx(-3.7404, abs=1e-8)  # the last "E-fermi" line
    assert got.potential_z_eV is None and got.n_ionic_steps == 0


def test_parse_vasp_dir_errors(tmp_path):
    from semcgcnn.pipeline.labelling.calc import LabelError
    from semcgcnn.pipeline.labelling.vasp import parse_vasp_dir

    with pytest.raises(LabelError, match="no vasprun.xml or OUTCAR"):
        parse_vasp_dir(tmp_path, "slab")


def test_parse_vasprun_of_a_real_vasp_run(tmp_path):
    """The vasprun.xml branch on a real VASP 6.3 output (ASE's test data: C, 2 atoms, PSTRESS)."""
    import shutil
    from pathlib import Path

    ase = pytest.importorskip("ase")
    src = Path(ase.__file__).parent / "test" / "testdata" / "vasp" / "vasprun_pstress.xml"
    if not src.exists():
        pytest.skip("ASE's VASP test data are not installed")
    shutil.copy(src, tmp_path / "vasprun.xml")
    from ase.io import read

    from semcgcnn.pipeline.labelling.vasp import parse_vasp_dir

    got = parse_vasp_dir(tmp_path, "bulk")
    ref = read(tmp_path / "vasprun.xml")
    assert got.code_version == "6.3.0" and got.method.startswith("VASP 6.3.0")
    assert got.n_atoms == 2 and got.pmg_structure().composition.reduced_formula == "C"
    assert got.fermi_eV == pytest.approx(ref.calc.get_fermi_level(), abs=1e-6)
    # pymatgen repairs VASP's σ→0 energy in vasprun.xml (its final_energy); ASE reads it raw
    assert got.energy_eV == pytest.approx(ref.get_potential_energy(), abs=0.01)
    assert got.potential_z_eV is None
