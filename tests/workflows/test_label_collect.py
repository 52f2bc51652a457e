"""``semcgcnn label --dry-run`` and ``semcgcnn label collect``: input folders that run as written
outside the package and come back as the label run's own tables.

A GPAW tree (Mg (0001), the fast preset) is run here by its own ``run_all.sh`` and collected: its
tables equal ``semcgcnn label``'s on the same file. The same GPAW results, written in VASP's file
formats into a VASP dry-run tree of the same bulk (no VASP runs here), collect to the same
surface energy and work functions, checked against pymatgen's own readers and
``WorkFunctionAnalyzer``. A folder that did not finish is its slab's error row."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
from backends_required import requires_gpaw
from same_tables import assert_same_labels
from screen_reference import LABEL

DRY = tuple(a for a in LABEL if a not in ("--backend", "gpaw"))  # the facet and preset


@pytest.fixture(scope="module")
def gpaw_tree(cli, hcp_mg_file, tmp_path_factory):
    """The GPAW dry run of Mg (0001), run by its run_all.sh with the launcher a label run uses."""
    from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS, child_env, gpaw_launcher

    out = tmp_path_factory.mktemp("gpaw_dry") / "out"
    res = cli("label", str(hcp_mg_file), *DRY, "--backend", "gpaw", "--dry-run", "--out", str(out))
    assert res.returncode == 0, res.stderr
    tree = out / "gpaw_inputs"
    assert "run_all.sh" in res.stdout and f"semcgcnn label collect {out}" in res.stdout
    *launcher, python = gpaw_launcher(GPAW_PRESETS["fast"])
    env = {**child_env(), "GPAW_PYTHON": python, "GPAW_LAUNCHER": " ".join(launcher)}
    run = subprocess.run(
        ["bash", str(tree / "run_all.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    return out


@requires_gpaw
def test_gpaw_inputs_run_as_written_and_collect_to_the_label_runs_tables(cli, gpaw_tree, mg_cli_labels):
    tree = gpaw_tree / "gpaw_inputs"
    manifest = json.loads((tree / "labelling.json").read_text())
    assert manifest["code"] == "gpaw" and manifest["reference"] is None  # Mg(0001) is stoichiometric
    folders = [manifest["bulk"], *(s["folder"] for s in manifest["slabs"])]
    assert (tree / "run_all.sh").read_text().splitlines()[-len(folders) :] == [
        f"bash {f}/run.sh" for f in folders
    ]
    for f in folders:  # each folder ran once, in GPAW's own files
        assert {"input.json", "output.json", "gpaw.txt", "runner.log"} <= {
            p.name for p in (tree / f).iterdir()
        }
    from semcgcnn.pipeline.labelling import gpaw

    # the tree carries the runner it calls: a cluster needs GPAW, not this package
    assert (tree / gpaw.RUNNER_COPY).read_bytes() == gpaw.RUNNER.read_bytes()
    assert f"../{gpaw.RUNNER_COPY} input.json" in (tree / folders[1] / "run.sh").read_text()
    bulk_input = json.loads((tree / manifest["bulk"] / "input.json").read_text())
    assert bulk_input["relax"]["relax"] is False and bulk_input["calc"]["ecut_eV"] == 250.0

    res = cli("label", "collect", str(gpaw_tree))
    assert res.returncode == 0, res.stderr
    assert "1 labels, 0 error rows" in res.stdout
    assert_same_labels(gpaw_tree, mg_cli_labels)


@requires_gpaw
def test_vasp_format_outputs_collect_to_the_same_labels_as_pymatgen_reads_them(
    cli, hcp_mg_file, gpaw_tree, tmp_path
):
    """The VASP dry run of the same bulk and facet, its static steps filled with the GPAW results
    in VASP's formats (``tests/vasp_files.py``): the same slab ids, γ to 1e-9 eV/Å², the work
    functions within 0.02 eV, the energies pymatgen's ``Outcar`` reads and
    ``WorkFunctionAnalyzer``'s work function on the slab's files."""
    from pymatgen.analysis.surface_analysis import WorkFunctionAnalyzer
    from pymatgen.io.vasp import Outcar
    from vasp_files import write_vasp_files

    from semcgcnn.pipeline.labelling.gpaw import parse_gpaw_dir

    out = tmp_path / "out"
    res = cli("label", str(hcp_mg_file), *DRY, "--backend", "vasp", "--dry-run", "--out", str(out))
    assert res.returncode == 0, res.stderr
    vasp, gpaw = out / "vasp_inputs", gpaw_tree / "gpaw_inputs"
    vm, gm = (json.loads((t / "labelling.json").read_text()) for t in (vasp, gpaw))
    assert [s["folder"] for s in vm["slabs"]] == [s["folder"] for s in gm["slabs"]]
    calcs = [(vm["bulk"], gm["bulk"], "bulk")] + [(s["folder"], s["folder"], "slab") for s in vm["slabs"]]
    energies = {}
    for v, g, kind in calcs:
        result = parse_gpaw_dir(gpaw / g, kind)
        v3 = np.load(gpaw / g / "potential_3d.npy") if kind == "slab" else None
        write_vasp_files(result, v3, vasp / v / "static")
        energies[v] = result.energy_eV

    res = cli("label", "collect", str(vasp))
    assert res.returncode == 0, res.stderr
    got = pd.read_parquet(out / "labels.parquet")
    want = pd.read_parquet(gpaw_tree / "labels.parquet")
    assert list(got.columns) == list(want.columns)
    assert list(got.structure_id) == list(want.structure_id) and set(got.backend) == {"vasp"}
    np.testing.assert_allclose(got.surface_energy_eV_per_A2, want.surface_energy_eV_per_A2, rtol=0, atol=1e-9)
    for side in ("bottom", "top"):
        np.testing.assert_allclose(
            got[f"work_function_{side}_eV"], want[f"work_function_{side}_eV"], atol=0.02
        )
    for v, e in energies.items():
        assert Outcar(str(vasp / v / "static" / "OUTCAR")).final_energy == pytest.approx(e, abs=1e-7)
    slab = vasp / vm["slabs"][0]["folder"] / "static"
    wfa = WorkFunctionAnalyzer.from_files(str(slab / "POSCAR"), str(slab / "LOCPOT"), str(slab / "OUTCAR"))
    row = got.iloc[0]
    assert wfa.work_function == pytest.approx(
        max(row.work_function_bottom_eV, row.work_function_top_eV), abs=0.02
    )
    assert 3.5 < row.work_function_bottom_eV < 4.0  # Mg(0001): PBE ≈ 3.7 eV

    # a slab whose static step did not finish: its error row, nothing dropped; the tables replaced
    (slab / "OUTCAR").unlink()
    res = cli("label", "collect", str(out))
    assert res.returncode == 0, res.stderr
    errors = pd.read_parquet(out / "errors.parquet")
    assert len(pd.read_parquet(out / "labels.parquet")) == 0
    assert list(errors.id) == [vm["slabs"][0]["folder"]]
    assert (
        "VASP slab calculation" in errors.reason.iloc[0]
        and "no vasprun.xml or OUTCAR" in errors.reason.iloc[0]
    )


def test_collect_refuses_a_folder_that_is_no_input_tree_in_one_line(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "other" / "gpaw_inputs").mkdir(parents=True)
    (tmp_path / "other" / "gpaw_inputs" / "labelling.json").write_text('{"format": "something else"}')
    cases = {
        tmp_path / "missing": "no such folder",
        tmp_path / "empty": "no labelling.json here",
        tmp_path / "other": "not a sem-cgcnn label manifest",
    }
    for folder, message in cases.items():
        res = cli("label", "collect", str(folder))
        assert res.returncode == 2, (folder, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr and message in res.stderr, (folder, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not list(tmp_path.rglob("*.parquet"))
