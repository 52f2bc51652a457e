"""`semcgcnn predict` and the Python API with the shipped model, on real shipped slabs plus bad files."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

import numpy as np
import pandas as pd
import pytest

from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

MG_IDS = ["620db5b01f9bc37c981e4507", "620db5b01f9bc37c981e4508", "620db5b01f9bc37c981e4509"]


@pytest.fixture(scope="module")
def slab_dir(tmp_path_factory):
    """Three real shipped Mg–Se slab CIFs plus one bad file of every kind the CLI must survive."""
    from pymatgen.core import Lattice, Structure

    from semcgcnn.datasets import get_spec

    d = tmp_path_factory.mktemp("slabs")
    archive = next(get_spec("mg_binary_slabs").path.glob("*.tar.xz"))
    with tarfile.open(archive) as tar:
        for sid in MG_IDS:
            member = tar.getmember(f"sem_cgcnn_mg_binary_slabs/{sid}.cif")
            (d / f"{sid}.cif").write_bytes(tar.extractfile(member).read())
    good = Structure.from_file(d / f"{MG_IDS[0]}.cif")
    (d / "malformed.cif").write_text(
        "data_broken\n_cell_length_a 3.2\nloop_\n_atom_site_label\nthis is not a cif\n"
    )
    (d / "not_a_structure.json").write_text(json.dumps({"hello": "world"}))
    partial = good.copy()
    partial.replace(0, {"Mg": 0.5, "Al": 0.5})
    partial.to(filename=str(d / "partial.cif"))
    overlap = good.copy()
    overlap.append("Mg", overlap[0].coords + [0.1, 0.0, 0.0], coords_are_cartesian=True)
    (d / "overlap.json").write_text(json.dumps(overlap.as_dict()))
    bulk = Structure(
        Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )
    bulk.to(filename=str(d / "POSCAR_bulk.vasp"), fmt="poscar")
    slab_og = good.copy()
    slab_og.replace_species({"Se": "Og"})
    (d / "unknown_element.json").write_text(json.dumps(slab_og.as_dict()))
    return d


def test_api_predicts_real_slabs_close_to_dft(mg_records):
    from semcgcnn.model.predict import load_pretrained

    p = load_pretrained()
    recs = mg_records[::40]
    df = p.predict([r.structure for r in recs], ids=[r.structure_id for r in recs])
    assert list(df["structure_id"]) == [r.structure_id for r in recs]
    se = np.array([r.targets["surface_energy"] for r in recs])
    wf = np.array([r.targets["work_function"] for r in recs])
    # the shipped model saw (most of) these slabs: it must be far better than the spread of the data
    assert np.abs(df["surface_energy_eV_per_A2"] - se).mean() < 0.5 * np.abs(se - np.median(se)).mean()
    assert np.abs(df["work_function_eV"] - wf).mean() < 0.5 * np.abs(wf - np.median(wf)).mean()
    np.testing.assert_allclose(
        df["surface_energy_J_per_m2"], df["surface_energy_eV_per_A2"] * EV_PER_A2_TO_J_PER_M2
    )
    assert df["model_id"].iloc[0] == p.model_id and p.model_id.startswith("semcgcnn-")
    assert not df["out_of_domain"].any()  # Mg–X intermetallic slabs of the training systems


def test_applicability_flags_unseen_elements_and_anions():
    from semcgcnn.model.predict import load_pretrained

    p = load_pretrained()
    assert p.applicability(["Mg", "Zn"]) == ("", False, "in domain")
    unseen, ood, why = p.applicability(["Mg", "O"])
    assert unseen == "O" and ood and "anion" in why and "unseen" in why
    assert "Mg" in p.training_elements and "Zn" in p.training_elements
    # a predicted surface energy ≤ 0 is flagged on its row, whatever the elements
    values = np.array([[0.03, 4.0], [-0.002, 4.1], [0.0, 3.9]])
    df = p.frame(["ok", "neg", "zero"], values, [["Mg", "Zn"], ["Mg", "Zn"], ["Mg", "O"]])
    assert list(df["out_of_domain"]) == [False, True, True]
    assert df["applicability"].iloc[0] == "in domain"
    assert df["applicability"].iloc[1] == "predicted surface energy ≤ 0 (unphysical)"
    assert "anion" in df["applicability"].iloc[2] and "≤ 0" in df["applicability"].iloc[2]


def test_cli_mixed_directory_writes_predictions_and_errors(slab_dir, tmp_path):
    out = tmp_path / "pred.parquet"
    run = subprocess.run(
        [sys.executable, "-m", "semcgcnn", "predict", str(slab_dir), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    pred = pd.read_parquet(out)
    err = pd.read_parquet(tmp_path / "pred.errors.parquet")
    assert sorted(pred["structure_id"]) == sorted(MG_IDS)
    assert {
        "surface_energy_eV_per_A2",
        "surface_energy_J_per_m2",
        "work_function_eV",
        "model_id",
        "unseen_elements",
        "out_of_domain",
        "applicability",
    } <= set(pred.columns)
    from semcgcnn.schema import read_metadata

    meta = read_metadata(out)
    assert meta["model_id"] == pred["model_id"].iloc[0] and meta["package"] == "sem-cgcnn"
    reasons = dict(zip(err["structure_id"], err["reason"], strict=True))
    assert set(reasons) == {
        "malformed",
        "not_a_structure",
        "partial",
        "overlap",
        "POSCAR_bulk",
        "unknown_element",
    }
    assert "partially occupied" in reasons["partial"]
    assert "overlapping" in reasons["overlap"]
    assert "vacuum" in reasons["POSCAR_bulk"]
    assert "Og" in reasons["unknown_element"]
    assert reasons["not_a_structure"] == "JSON is not a pymatgen Structure: no 'lattice' key"
    # the CLI's numbers are the API's numbers
    from semcgcnn.io import read_structure
    from semcgcnn.model.predict import load_pretrained

    api = load_pretrained().predict([read_structure(slab_dir / f"{s}.cif") for s in MG_IDS], ids=MG_IDS)
    merged = api.merge(pred, on="structure_id", suffixes=("", "_cli"))
    np.testing.assert_allclose(merged["work_function_eV"], merged["work_function_eV_cli"], rtol=1e-6)


def test_cli_nothing_predictable_exits_nonzero(tmp_path):
    (tmp_path / "junk.cif").write_text("not a cif at all")
    run = subprocess.run(
        [sys.executable, "-m", "semcgcnn", "predict", str(tmp_path), "--out", str(tmp_path / "p.parquet")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "Traceback" not in run.stdout + run.stderr
    assert "junk" in run.stdout


def test_files_read_in_parallel_give_the_same_rows_and_errors(slab_dir, monkeypatch):
    """Large batches read files in worker processes: same predictions, same errors, same order."""
    from semcgcnn.model import predict_files as pf
    from semcgcnn.model.predict import load_pretrained

    p = load_pretrained()
    serial, serial_err = pf.predict_files([slab_dir], p, progress=False)
    monkeypatch.setattr(pf, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(pf, "_CHUNK", 2)  # several chunks over 9 files
    par, par_err = pf.predict_files([slab_dir], p, progress=False)
    pd.testing.assert_frame_equal(serial, par)
    pd.testing.assert_frame_equal(serial_err, par_err)
    assert len(par) == 3 and len(par_err) == 6


_CIF_HEAD = """data_x
_cell_length_a 3.2
_cell_length_b 3.2
_cell_length_c 30
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 120
_symmetry_space_group_name_H-M 'P 1'
loop_
_symmetry_equiv_pos_as_xyz
 'x, y, z'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
"""
_POSCAR_CELL = "Mg\n1.0\n3 0 0\n0 3 0\n0 0 30\n"
_FILE_ENDS_EARLY = (
    "POSCAR is malformed: the file ends early (needs a comment line, a scale, 3 lattice rows, "
    "element names and counts, then one coordinate row per atom)"
)
BAD_FILES = {  # file name: (content, the one-line reason `semcgcnn predict` gives)
    "empty.json": ("{}", "JSON is not a pymatgen Structure: no 'lattice' key"),
    "list.json": (
        "[1, 2]",
        "JSON is not a pymatgen Structure: the top level is a list, not an object with 'lattice' and 'sites'",
    ),
    "broken.json": (
        "{not json",
        "JSON is malformed: Expecting property name enclosed in double quotes at line 1 column 2",
    ),
    "no_sites.json": (
        '{"lattice": {"matrix": [[3, 0, 0], [0, 3, 0], [0, 0, 30]]}}',
        "JSON is not a pymatgen Structure: no 'sites' key",
    ),
    "site_without_species.json": (
        '{"lattice": {"matrix": [[3, 0, 0], [0, 3, 0], [0, 0, 30]]}, "sites": [{"abc": [0, 0, 0]}]}',
        "JSON is not a valid pymatgen Structure: missing key 'species'",
    ),
    "molecule.json": (
        '{"@class": "Molecule", "sites": []}',
        "JSON is a pymatgen Molecule, not a Structure: no 'lattice' (a crystal graph needs a cell)",
    ),
    "empty.cif": ("", "CIF file is empty"),
    "text.cif": ("hello world\n", "CIF has no data_ block: this is not a CIF file"),
    "no_cell.cif": (
        "data_x\nloop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
        "Mg1 0 0 0\n",
        "CIF has no cell: _cell_length_a, _b or _c is missing",
    ),
    "no_atoms.cif": (
        _CIF_HEAD.split("loop_\n_atom_site_label")[0],
        "CIF has no atom sites: no _atom_site_fract_x/_atom_site_Cartn_x loop",
    ),
    "zero_cell.cif": (
        _CIF_HEAD.replace("_cell_length_a 3.2", "_cell_length_a 0") + "Mg1 Mg 0 0 0.4 1\n",
        "CIF cell has a zero or negative length (a, b, c = 0, 3.2, 30 Å)",
    ),
    "same_position.cif": (
        _CIF_HEAD + "Mg1 Mg 0 0 0.4 1\nMg2 Mg 0 0 0.4 1\n",
        "CIF has overlapping atoms: sites at the same position (occupancies sum to > 1), "
        "so no structure was read",
    ),
    "close.cif": (
        _CIF_HEAD + "Mg1 Mg 0 0 0.4 1\nMg2 Mg 0.01 0 0.4 1\n",
        "overlapping atoms: sites 0 (Mg) and 1 (Mg) 0.032 Å apart (closer than 0.5 Å)",
    ),
    "POSCAR_short": (_POSCAR_CELL[:-7], _FILE_ENDS_EARLY),
    "POSCAR_no_coords": (_POSCAR_CELL + "Mg\n2\nDirect\n0 0 0.4\n", _FILE_ENDS_EARLY),
    "POSCAR_words": (
        "this is\nnot a poscar\n",
        "POSCAR is malformed: expected numbers, found 'not a poscar'",
    ),
    "POSCAR_zero_atoms": (
        _POSCAR_CELL + "Mg\n0\nDirect\n",
        "POSCAR lists no atoms (the atom counts are zero)",
    ),
    "POSCAR_flat_cell": (
        "Mg\n1.0\n0 0 0\n0 3 0\n0 0 30\nMg\n1\nDirect\n0 0 0.4\n",
        "degenerate cell: volume 0 Å³ (lattice vectors zero or coplanar; a, b, c = 0, 3, 30 Å)",
    ),
    "POSCAR_overlap": (
        _POSCAR_CELL + "Mg\n2\nCartesian\n0 0 12\n0.2 0 12\n",
        "overlapping atoms: sites 0 (Mg) and 1 (Mg) 0.200 Å apart (closer than 0.5 Å)",
    ),
    "POSCAR_Xx": (
        _POSCAR_CELL + "Xx\n1\nDirect\n0 0 0.4\n",
        "unknown element symbol(s): Xx (give element symbols such as Mg, Al)",
    ),
}


def test_bad_structure_files_say_what_is_wrong_in_one_line(tmp_path):
    """Each bad file of the table is one error row whose reason says what is wrong with the file;
    the good slab in the same folder is still predicted."""
    from pymatgen.core import Lattice, Structure

    d = tmp_path / "in"
    d.mkdir()
    for name, (content, _) in BAD_FILES.items():
        (d / name).write_text(content)
    Structure(Lattice.hexagonal(3.21, 30.0), ["Mg", "Mg"], [[0, 0, 0.4], [1 / 3, 2 / 3, 0.47]]).to(
        filename=str(d / "good.cif")
    )
    out = tmp_path / "p.parquet"
    run = subprocess.run(
        [sys.executable, "-m", "semcgcnn", "predict", str(d), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "300"},
    )
    assert run.returncode == 0 and "Traceback" not in run.stdout + run.stderr, run.stdout + run.stderr
    assert list(pd.read_parquet(out)["structure_id"]) == ["good"]
    err = pd.read_parquet(tmp_path / "p.errors.parquet")
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in zip(err["path"], err["reason"], strict=True)}
    assert reasons == {name: why for name, (_, why) in BAD_FILES.items()}
    for name, (_, why) in BAD_FILES.items():
        assert f"skipped {d / name}: {why}" in run.stdout
