"""Universal ML-potential backend (SevenNet 7net-0 through atomate2's force-field Makers): the checks
before a run, a real bulk + slab labelling run with jobflow (γ of Mg(0001) in a physical band, no
work function) and the slab relax keeping the paper's fixed interior fixed."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest
from backends_required import requires_mlip

from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

warnings.filterwarnings("ignore")
pytestmark = requires_mlip


@pytest.fixture(scope="module")
def mg():
    import torch
    from pymatgen.core import Lattice, Structure

    from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
    from semcgcnn.pipeline.slabs import SlabConfig, conventional_cell, slabs_for_miller

    torch.set_num_threads(1)
    bulk = Structure(
        Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )
    slabs, _ = slabs_for_miller(conventional_cell(bulk)[0], (0, 0, 1), SlabConfig())
    return bulk, with_fixed_interior(slabs[0])


def _run(jobs, root):
    from jobflow import Flow, run_locally
    from jobflow.core.store import JobStore
    from maggma.stores import MemoryStore

    # atomate2's force-field jobs write to an additional "data" store
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    # each job in its own folder under root: atomate2's relaxer writes final_atoms_object.xyz in the cwd
    resp = run_locally(Flow(jobs), store=store, ensure_success=True, create_folders=True, root_dir=root)
    return [resp[j.uuid][1].output for j in jobs]


def test_check_mlip_errors():
    from pymatgen.core import Lattice, Structure

    from semcgcnn.pipeline.labelling.calc import LabelError
    from semcgcnn.pipeline.labelling.mlip import check_mlip, model_elements

    mg = Structure(Lattice.cubic(3.0), ["Mg"], [[0, 0, 0]])
    check_mlip("SevenNet", [mg])
    assert len(model_elements("SevenNet")) == 89 and "Mg" in model_elements("SevenNet")
    po = Structure(Lattice.cubic(3.4), ["Po"], [[0, 0, 0]])  # not in 7net-0's training elements
    with pytest.raises(LabelError, match="Po outside the elements SevenNet 7net-0") as e:
        check_mlip("SevenNet", [mg, po])
    assert "\n" not in str(e.value)
    with pytest.raises(LabelError, match="unknown ML potential"):
        check_mlip("MACE", [mg])
    if importlib.util.find_spec("chgnet") is None:
        with pytest.raises(LabelError, match=r"pip install 'sem-cgcnn\[mlip\]'") as e:
            check_mlip("CHGNet", [mg])
        assert "\n" not in str(e.value)


def test_makers_settings(mg, tmp_path):
    """The Makers do what their settings say, on a real hcp Mg bulk strained by 3 %: energies are
    7net-0's (a calculator made here, outside atomate2), the static is one step, and the bulk relax
    keeps the cell unless asked to relax it."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from sevenn.calculator import SevenNetCalculator

    from semcgcnn.pipeline.labelling.mlip import calc_result_from_forcefield_doc
    from semcgcnn.workflows.labelling.forcefield import mlip_makers

    bulk = mg[0].copy()
    bulk.scale_lattice(bulk.volume * 1.03**3)
    calc = SevenNetCalculator("7net-0", device="cpu")

    def energy(structure) -> float:
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = calc
        return float(atoms.get_potential_energy())

    fixed_relax, static = mlip_makers("SevenNet", "bulk")
    cell_relax, _ = mlip_makers("SevenNet", "bulk", relax_bulk_cell=True)
    docs = _run([static.make(bulk), fixed_relax.make(bulk), cell_relax.make(bulk)], tmp_path)
    single, fixed, relaxed = (calc_result_from_forcefield_doc(d, "bulk") for d in docs)
    assert single.n_ionic_steps == 1 and single.energy_eV == pytest.approx(energy(bulk), abs=1e-4)
    for res in (fixed, relaxed):
        assert res.energy_eV == pytest.approx(energy(res.pmg_structure()), abs=1e-4)
        assert res.energy_eV <= single.energy_eV + 1e-6
    # the strained cell has (almost) no forces on its atoms by symmetry: only the cell moves it
    assert np.allclose(fixed.pmg_structure().lattice.matrix, bulk.lattice.matrix)
    assert abs(relaxed.pmg_structure().volume / bulk.volume - 1) > 0.01  # the cell relaxed towards 7net-0's
    assert relaxed.energy_eV < fixed.energy_eV - 1e-3
    assert "with the cell" in relaxed.method and "cell fixed" in fixed.method


@pytest.mark.slow
def test_sevennet_surface_energy_of_mg0001(mg, tmp_path):
    from semcgcnn.pipeline.labelling.mlip import calc_result_from_forcefield_doc, check_mlip
    from semcgcnn.pipeline.labelling.surface import surface_energy
    from semcgcnn.workflows.labelling.forcefield import mlip_makers

    bulk, slab = mg
    check_mlip("SevenNet", [bulk, slab])
    _, bulk_static = mlip_makers("SevenNet", "bulk")
    slab_relax, slab_static = mlip_makers("SevenNet", "slab")
    jobs = [bulk_static.make(bulk), slab_static.make(slab), slab_relax.make(slab)]
    docs = _run(jobs, tmp_path)
    b, s_static, s_relax = (
        calc_result_from_forcefield_doc(d, k) for d, k in zip(docs, ["bulk", "slab", "slab"], strict=False)
    )
    assert b.code == "SevenNet" and "7net-0" in b.method and b.fermi_eV is None and b.potential_z_eV is None
    assert b.n_atoms == 2 and s_static.n_atoms == len(slab) and s_static.n_ionic_steps == 1
    assert "relaxed to fmax 0.02" in s_relax.method and s_relax.n_ionic_steps >= 1
    assert b.energy_per_atom_eV == pytest.approx(-1.60, abs=0.02)  # 7net-0, hcp Mg (measured −1.604)
    for s in (s_static, s_relax):
        g = surface_energy(s, b).eV_per_A2 * EV_PER_A2_TO_J_PER_M2
        assert 0.40 < g < 0.55  # 7net-0: ~0.47; PBE 0.54
    assert s_relax.energy_eV <= s_static.energy_eV + 1e-6
    assert s_relax.fermi_eV is None  # no work function from an ML potential
    assert s_relax.dir_name.startswith(str(tmp_path))


@pytest.mark.slow
def test_slab_relax_keeps_fixed_atoms_fixed(mg, tmp_path):
    from semcgcnn.pipeline.labelling.mlip import calc_result_from_forcefield_doc
    from semcgcnn.workflows.labelling.forcefield import mlip_makers

    _, slab = mg
    rattled = slab.copy()
    rng = np.random.default_rng(0)
    for i in range(len(rattled)):  # so that every atom feels a force
        rattled.translate_sites([i], rng.normal(0, 0.08, 3), frac_coords=False, to_unit_cell=False)
    relax, _ = mlip_makers("SevenNet", "slab")
    (doc,) = _run([relax.make(rattled)], tmp_path)
    res = calc_result_from_forcefield_doc(doc, "slab")
    moved = np.linalg.norm(res.pmg_structure().cart_coords - rattled.cart_coords, axis=1)
    free = np.array([sd[0] for sd in rattled.site_properties["selective_dynamics"]])
    assert free.sum() == 4 and (~free).sum() == 2
    assert np.all(moved[~free] < 1e-8), moved  # AseAtomsAdaptor's FixAtoms survives atomate2's relaxer
    assert np.all(moved[free] > 1e-3), moved
    assert res.n_ionic_steps > 1
    assert np.allclose(res.pmg_structure().lattice.matrix, rattled.lattice.matrix)  # cell fixed
