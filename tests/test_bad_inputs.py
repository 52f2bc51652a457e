"""Hostile inputs, tried as a user would: non-finite or degenerate structures, a slab given as a
bulk, unreadable folder entries, two files with one name, and one-line messages on a narrow terminal.
Every bad file is an error row (or a one-line error) naming the file and the reason; the good
files of the same run are still predicted or screened."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_runner import run_cli


@pytest.fixture(scope="module")
def slab():
    """A real shipped Mg–X slab (84 atoms, vacuum along c)."""
    from semcgcnn.datasets import load

    return load("mg_binary_slabs")[0].structure


def _json_with(structure, site: int, axis: int, value: float) -> str:
    """``structure`` as pymatgen JSON with fractional coordinate ``axis`` of ``site`` set to ``value``."""
    d = structure.as_dict()
    d["sites"][site]["abc"][axis] = value
    d["sites"][site].pop("xyz", None)
    return json.dumps(d)


def _poscar_with_nan(structure) -> str:
    from pymatgen.io.vasp import Poscar

    lines = Poscar(structure).get_str().splitlines()
    first = lines.index("direct") + 1 if "direct" in lines else 8  # first coordinate row
    row = lines[first].split()
    row[2] = "nan"
    lines[first] = "  ".join(row)
    return "\n".join(lines) + "\n"


def _bad_slabs(folder: Path, slab) -> Path:
    """``good.json`` (a real slab) and slab files no model can predict."""
    from pymatgen.core import Lattice, Structure

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.json").write_text(slab.to_json())
    (folder / "nan_coord.json").write_text(_json_with(slab, 0, 2, float("nan")))
    (folder / "inf_coord.json").write_text(_json_with(slab, 3, 0, float("inf")))
    (folder / "nan_coord.vasp").write_text(_poscar_with_nan(slab))
    one = Structure(Lattice.hexagonal(3.21, 25.0), ["Mg"], [[0, 0, 0.5]])
    (folder / "one_atom.json").write_text(one.to_json())
    flat = Structure(Lattice.hexagonal(3.21, 25.0), ["Mg", "Mg"], [[0, 0, 0.5], [1 / 3, 2 / 3, 0.5]])
    (folder / "monolayer.json").write_text(flat.to_json())  # a honeycomb sheet: one layer, not a slab
    a, b, _ = slab.lattice.matrix
    normal = np.cross(a, b) / np.linalg.norm(np.cross(a, b))
    sheared = Structure(Lattice([a, b, a + b + 1e-4 * normal]), slab.species, slab.frac_coords)  # c ≈ in a×b
    (folder / "coplanar_cell.json").write_text(sheared.to_json())
    return folder


BAD_SLAB_REASONS = {
    "nan_coord.json": "non-finite coordinates",
    "inf_coord.json": "non-finite coordinates",
    "nan_coord.vasp": "non-finite coordinates",
    "one_atom.json": "fewer than two atomic layers",
    "monolayer.json": "fewer than two atomic layers",
    "coplanar_cell.json": "degenerate cell",
}


def test_structure_check_refuses_non_finite_and_degenerate_cells(slab, tmp_path):
    """The one structure check (``semcgcnn.io.read_structure``) sees NaN/inf coordinates and a
    coplanar cell before anything computes with them."""
    from semcgcnn.io import InputError, read_structure

    folder = _bad_slabs(tmp_path, slab)
    assert len(read_structure(folder / "good.json")) == 84
    for name in ("nan_coord.json", "inf_coord.json", "nan_coord.vasp", "coplanar_cell.json"):
        with pytest.raises(InputError) as info:
            read_structure(folder / name)
        assert BAD_SLAB_REASONS[name] in str(info.value) and "\n" not in str(info.value), name


def test_predict_makes_non_finite_degenerate_and_one_layer_slabs_error_rows(slab, tmp_path):
    folder = _bad_slabs(tmp_path / "in", slab)
    out = tmp_path / "p.parquet"
    run = run_cli("predict", str(folder), "--out", str(out))
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    preds, errors = pd.read_parquet(out), pd.read_parquet(tmp_path / "p.errors.parquet")
    assert list(preds["structure_id"]) == ["good"]
    assert 0.01 < preds["surface_energy_eV_per_A2"].iloc[0] < 0.2 and not preds["out_of_domain"].iloc[0]
    reasons = {Path(p).name: r for p, r in zip(errors["path"], errors["reason"], strict=False)}
    assert set(reasons) == set(BAD_SLAB_REASONS)
    for name, why in BAD_SLAB_REASONS.items():
        assert why in reasons[name], (name, reasons[name])
        lines = run.stdout.splitlines()
        assert any(line.startswith(f"skipped {folder / name}: {why}") for line in lines), run.stdout


def _bad_bulks(folder: Path, hcp_mg, slab) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hcp_Mg.json").write_text(hcp_mg.to_json())
    (folder / "nan_Mg.json").write_text(_json_with(hcp_mg, 1, 2, float("nan")))
    (folder / "slab_as_bulk.json").write_text(slab.to_json())
    return folder


def test_screen_candidates_refuse_a_slab_given_as_a_bulk_with_the_label_rule(hcp_mg, slab, tmp_path):
    """The screen and ``semcgcnn label`` share one bulk rule: no empty gap wider than 5 Å."""
    from semcgcnn.pipeline.labelling.calc import LabelError
    from semcgcnn.pipeline.labelling.references import check_bulk
    from semcgcnn.pipeline.screen.candidates import screen_candidates

    found = screen_candidates(structures=_bad_bulks(tmp_path, hcp_mg, slab))
    assert [c.compound_id for c in found.candidates] == ["hcp_Mg"]
    reasons = {e["id"]: e["reason"] for e in found.errors}
    assert reasons["slab_as_bulk.json"].startswith(
        "not a bulk crystal: an empty gap of 15.9 Å along lattice vector c"
    )
    assert "non-finite coordinates" in reasons["nan_Mg.json"]
    with pytest.raises(LabelError) as info:
        check_bulk(slab, "slab.json")
    assert str(info.value) == f"slab.json: {reasons['slab_as_bulk.json']}"


def test_screen_turns_a_nan_bulk_and_a_slab_into_error_rows_instead_of_crashing(hcp_mg, slab, tmp_path):
    folder = _bad_bulks(tmp_path / "in", hcp_mg, slab)
    out = tmp_path / "screen"
    run = run_cli(
        "screen",
        "--structures",
        str(folder),
        "--out",
        str(out),
        "--workers",
        "1",
        "--max-index",
        "1",
        env={"COLUMNS": "60"},
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    errors = pd.read_parquet(out / "errors.parquet")
    reasons = dict(zip(errors["id"], errors["reason"], strict=False))
    assert set(reasons) == {"nan_Mg.json", "slab_as_bulk.json"}
    assert "non-finite coordinates" in reasons["nan_Mg.json"]
    assert "not a bulk crystal" in reasons["slab_as_bulk.json"]
    compounds = pd.read_parquet(out / "compounds.parquet")
    assert list(compounds["compound_id"]) == ["hcp_Mg"]
    # a log line longer than the 60-column terminal stays one line
    logged = "1 candidates (0 already done), 2 input errors; 1 workers"
    assert any(logged in line for line in run.stderr.splitlines()), run.stderr


def _unreadable_entries(folder: Path) -> dict[str, str]:
    """Entries named like structure files that cannot be read, and the reason each must give."""
    os.symlink("loop_b.cif", folder / "loop_a.cif")
    os.symlink("loop_a.cif", folder / "loop_b.cif")
    os.symlink("nowhere.cif", folder / "dangling.cif")
    os.mkfifo(folder / "pipe.vasp")  # reading it would block forever
    return {
        "loop_a.cif": "symlink loop",
        "loop_b.cif": "symlink loop",
        "dangling.cif": "dangling symlink: nowhere.cif does not exist",
        "pipe.vasp": "not a regular file",
    }


def test_unreadable_entries_are_error_rows_in_predict(slab, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.json").write_text(slab.to_json())
    os.symlink(folder / "good.json", folder / "link_to_good.json")  # a working link is read through
    expected = {**_unreadable_entries(folder), "self_loop.cif": "symlink loop"}
    os.symlink("self_loop.cif", tmp_path / "self_loop.cif")
    out = tmp_path / "p.parquet"
    run = run_cli("predict", str(folder), str(tmp_path / "self_loop.cif"), "--out", str(out))
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    preds, errors = pd.read_parquet(out), pd.read_parquet(tmp_path / "p.errors.parquet")
    assert sorted(preds["structure_id"]) == ["good", "link_to_good"]
    assert preds["surface_energy_eV_per_A2"].nunique() == 1
    rows = sorted(zip(errors["path"].map(lambda p: Path(p).name), errors["reason"], strict=False))
    assert [name for name, _ in rows] == sorted(expected)  # the folder's entries and the argument
    for name, why in rows:
        assert expected[name] in why, (name, why)
    assert errors["structure_id"].is_unique


def test_unreadable_entries_are_error_rows_in_the_screen(hcp_mg, tmp_path):
    from semcgcnn.pipeline.screen.candidates import load_directory

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "hcp_Mg.json").write_text(hcp_mg.to_json())
    expected = _unreadable_entries(folder)
    cands, errors = load_directory(folder)
    assert [c.compound_id for c in cands] == ["hcp_Mg"]
    reasons = {e["id"]: e["reason"] for e in errors}
    assert set(reasons) == set(expected)
    for name, why in expected.items():
        assert reasons[name].startswith("unreadable structure file: ") and why in reasons[name], reasons[name]


def test_a_file_without_read_permission_is_an_error_row(slab, tmp_path):
    from semcgcnn.io import find_structure_files

    locked = tmp_path / "locked.json"
    locked.write_text(slab.to_json())
    locked.chmod(0)
    if os.access(locked, os.R_OK):
        pytest.skip("running as root: file permissions do not stop this process reading")
    files, problems = find_structure_files([tmp_path])
    assert files == [] and problems == [(locked, "permission denied")]


def test_two_files_with_one_stem_keep_distinct_ids_in_predict_and_screen(slab, hcp_mg, tmp_path):
    from semcgcnn.pipeline.screen.candidates import load_directory

    good = tmp_path / "good"
    good.mkdir()
    slab.to(filename=str(good / "mg001.cif"))
    (good / "mg001.json").write_text(slab.to_json())
    (good / "mg002.json").write_text(slab.to_json())
    out = tmp_path / "p.parquet"
    run = run_cli("predict", str(good), "--out", str(out))
    assert run.returncode == 0, run.stderr
    preds = pd.read_parquet(out)
    assert list(preds["structure_id"]) == ["mg001.cif", "mg001.json", "mg002"]
    assert abs(preds["surface_energy_eV_per_A2"].iloc[0] - preds["surface_energy_eV_per_A2"].iloc[1]) < 1e-6

    bulks = tmp_path / "bulks"
    bulks.mkdir()
    hcp_mg.to(filename=str(bulks / "mg001.cif"))
    (bulks / "mg001.json").write_text(hcp_mg.to_json())
    cands, errors = load_directory(bulks)
    assert [c.compound_id for c in cands] == ["mg001.cif", "mg001.json"] and errors == []


def test_the_same_file_twice_is_refused_in_one_line(slab, tmp_path):
    (tmp_path / "a.json").write_text(slab.to_json())
    a = tmp_path / "a.json"
    run = run_cli("predict", str(a), str(a), "--out", str(tmp_path / "p.parquet"))
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip() == f"error: {a} is given twice: every structure needs its own id"


def test_select_with_budget_zero_refuses_before_creating_its_folder(tmp_path):
    run = run_cli("select", str(tmp_path / "no_screen"), "--budget", "0", "--out", str(tmp_path / "picks"))
    assert run.returncode == 2 and run.stderr.strip() == "error: --budget must be ≥ 1"
    assert not (tmp_path / "picks").exists()


def test_one_line_messages_stay_one_line_on_a_narrow_terminal(slab, tmp_path):
    folder = _bad_slabs(tmp_path / "a_folder_with_a_rather_long_name_to_pass_forty_columns", slab)
    run = run_cli(
        "predict",
        str(folder / "nan_coord.json"),
        str(folder / "good.json"),
        "--out",
        str(tmp_path / "p.parquet"),
        env={"COLUMNS": "40"},
    )
    assert run.returncode == 0, run.stderr
    skipped = [line for line in run.stdout.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"skipped {folder / 'nan_coord.json'}: non-finite coordinates")
    assert skipped[0].endswith(")") and len(skipped[0]) > 80
    summary = "1 slabs predicted (0 outside the training domain, 0 asymmetric) → "
    lines = run.stdout.splitlines()
    assert any(line.startswith(summary) and line.endswith("p.errors.parquet") for line in lines), run.stdout
