"""Checkpoints a user cannot be fooled by: weights must match the card's ``weights_sha256``, a model
id must be the one derived from its hash, ensemble members are named by id and live in the card's
folder, every card field is range-checked before anything is allocated, and a malformed card
(checkpoint or ensemble) is one line, never a traceback. The shipped cards verify as they are."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli

from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE, SHIPPED_MODEL, CheckpointError, load_checkpoint
from semcgcnn.model.predict import load_pretrained

SHIPPED_ID = "semcgcnn-221a212114ed"
SHIPPED_ENSEMBLE_ID = "semcgcnn-ens-70f7fd1e097c"


def _copy(folder: Path, stem: Path = SHIPPED_MODEL, name: str = "m") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(stem.with_suffix(".safetensors"), folder / f"{name}.safetensors")
    shutil.copy(stem.with_suffix(".json"), folder / f"{name}.json")
    return folder / name


def _edit_card(stem: Path, edit) -> Path:
    card = json.loads(stem.with_suffix(".json").read_text())
    edit(card)
    stem.with_suffix(".json").write_text(json.dumps(card))
    return stem


def _write_inf(stem: Path) -> None:
    """One weight of the first convolution set to +inf (same tensor names, shapes and dtypes)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(stem.with_suffix(".safetensors")))
    key = sorted(k for k in state if k.startswith("convs.0.") and k.endswith("weight"))[0]
    state[key].view(-1)[0] = float("inf")
    save_file(state, str(stem.with_suffix(".safetensors")))


def _one_line_error(stem_or_card: Path, *expected: str) -> str:
    with pytest.raises(CheckpointError) as info:
        load_pretrained(stem_or_card)
    msg = str(info.value)
    assert "\n" not in msg and all(e in msg for e in expected), msg
    return msg


@pytest.fixture(scope="module")
def slab_file(tmp_path_factory) -> Path:
    from semcgcnn.datasets import load

    path = tmp_path_factory.mktemp("slab") / "slab.json"
    path.write_text(load("mg_binary_slabs")[0].structure.to_json())
    return path


def test_the_shipped_cards_verify_and_keep_their_ids():
    p = load_pretrained()
    assert p.model_id == SHIPPED_ENSEMBLE_ID and len(p.members) == 5
    card = json.loads(SHIPPED_ENSEMBLE.read_text())
    assert [m.model_id for m in p.members] == card["member_ids"] and p.members[0].model_id == SHIPPED_ID
    for m in p.members:
        assert m.card["weights_sha256"].startswith(m.model_id.removeprefix("semcgcnn-"))
    assert load_checkpoint(SHIPPED_MODEL).model_id == SHIPPED_ID


def test_weights_tampered_under_the_genuine_card_are_refused(tmp_path, slab_file):
    stem = _copy(tmp_path / "model")
    _write_inf(stem)
    _one_line_error(
        stem,
        f"{stem}.safetensors: weights do not match the card's weights_sha256 "
        "(221a212114ed3ba8…, the file hashes to ",
    )
    run = run_cli("predict", str(slab_file), "--out", str(tmp_path / "p.parquet"), "--model", str(stem))
    assert run.returncode == 2 and "Traceback" not in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert "weights_sha256" in run.stderr and not (tmp_path / "p.parquet").exists()


def test_non_finite_weights_are_refused_even_under_a_matching_hash_and_id(tmp_path):
    stem = _copy(tmp_path / "model")
    _write_inf(stem)
    digest = hashlib.sha256(stem.with_suffix(".safetensors").read_bytes()).hexdigest()
    _edit_card(stem, lambda c: c.update(weights_sha256=digest, model_id=f"semcgcnn-{digest[:12]}"))
    _one_line_error(stem, f"{stem}.safetensors: weight tensor convs.0.", "holds 1 non-finite value")


@pytest.mark.parametrize("forged", ["my-trusted-model", "semcgcnn-000000000000", f"{SHIPPED_ID} "])
def test_a_model_id_not_derived_from_the_weights_hash_is_refused(tmp_path, forged):
    stem = _edit_card(_copy(tmp_path / "model"), lambda c: c.update(model_id=forged))
    _one_line_error(
        stem,
        f"{stem}.json: model_id {forged!r} is not the id of its weights_sha256 (expected '{SHIPPED_ID}')",
    )


def test_a_card_without_a_weights_hash_is_refused(tmp_path):
    stem = _edit_card(_copy(tmp_path / "model"), lambda c: c.pop("weights_sha256"))
    _one_line_error(stem, f"{stem}.json: checkpoint card lacks weights_sha256")


def _ensemble(folder: Path, members: list, member_ids: list | None = None, **fields) -> Path:
    """An ensemble card in ``folder`` with a model id derived as ``save_ensemble`` derives it."""
    ids = member_ids if member_ids is not None else [load_checkpoint(folder / m).model_id for m in members]
    calibration = fields.pop("calibration", {"surface_energy": 4.0, "work_function": 5.0})
    digest = hashlib.sha256(json.dumps([ids, calibration, "mean"], sort_keys=True).encode()).hexdigest()[:12]
    card = {
        "format": "semcgcnn-ensemble-1",
        "model_id": f"semcgcnn-ens-{digest}",
        "members": members,
        "member_ids": ids,
        "calibration": calibration,
        **fields,
    }
    path = folder / "ens.json"
    path.write_text(json.dumps(card))
    return path


def test_an_ensemble_of_members_in_its_folder_loads_under_its_derived_id(tmp_path):
    from semcgcnn.model.ensemble import ensemble_id, save_ensemble

    folder = tmp_path / "ens"
    a = _copy(folder, name="a")
    b = _copy(folder / "sub", SHIPPED_ENSEMBLE.parent / "ensemble" / "member-s1", name="b")
    calibration = {"surface_energy": 4.0, "work_function": 5.0}
    card = save_ensemble(folder / "ens.json", [a, b], calibration, {"center": "first"})
    assert json.loads(card.read_text())["members"] == ["a", "sub/b"]
    p = load_pretrained(card)
    ids = [SHIPPED_ID, "semcgcnn-468f05d424d4"]
    assert p.is_ensemble and p.model_id == ensemble_id(ids, calibration, "first") != SHIPPED_ENSEMBLE_ID
    assert [m.model_id for m in p.members] == ids and p.center == "first"
    shipped = json.loads(SHIPPED_ENSEMBLE.read_text())
    assert (
        ensemble_id(shipped["member_ids"], shipped["calibration"], shipped["center"], shipped["distance"])
        == SHIPPED_ENSEMBLE_ID
    )


def test_ensemble_members_outside_the_card_folder_are_refused(tmp_path):
    folder = tmp_path / "ens"
    _copy(folder, name="a")
    outside = _copy(tmp_path / "elsewhere", SHIPPED_ENSEMBLE.parent / "ensemble" / "member-s1", name="b")
    for member in ("../elsewhere/b", str(outside)):
        card = _ensemble(folder, ["a", member], [SHIPPED_ID, "semcgcnn-468f05d424d4"])
        _one_line_error(card, f"{card}: member {member!r} is outside the card's folder")
    os.symlink(tmp_path / "elsewhere", folder / "linked")  # a link inside pointing out counts as outside
    card = _ensemble(folder, ["a", "linked/b"], [SHIPPED_ID, "semcgcnn-468f05d424d4"])
    _one_line_error(card, f"{card}: member 'linked/b' is outside the card's folder")


def test_a_member_that_is_not_the_one_the_card_names_is_refused(tmp_path):
    folder = tmp_path / "ens"
    _copy(folder, name="a")
    _copy(folder, SHIPPED_ENSEMBLE.parent / "ensemble" / "member-s1", name="b")
    card = _ensemble(folder, ["a", "b"], [SHIPPED_ID, "semcgcnn-7e5454a4c12d"])  # b is member-s1
    _one_line_error(
        card, f"{card}: member 'b' is semcgcnn-468f05d424d4, not the semcgcnn-7e5454a4c12d the card names"
    )


def test_a_forged_ensemble_id_is_refused(tmp_path):
    folder = tmp_path / "ens"
    _copy(folder, name="a")
    _copy(folder, SHIPPED_ENSEMBLE.parent / "ensemble" / "member-s1", name="b")
    card = _ensemble(folder, ["a", "b"])
    genuine = json.loads(card.read_text())["model_id"]
    card.write_text(json.dumps({**json.loads(card.read_text()), "model_id": SHIPPED_ENSEMBLE_ID}))
    _one_line_error(
        card,
        f"{card}: model_id '{SHIPPED_ENSEMBLE_ID}' is not the id of its members and "
        f"calibration (expected '{genuine}')",
    )


MEMBERS = "members must be a non-empty list of checkpoint paths"
MALFORMED_ENSEMBLES = {  # card edit: the problem named in the one-line error
    "member_number": (lambda c: c.update(members=[123]), MEMBERS),
    "members_string": (lambda c: c.update(members="a"), MEMBERS),
    "no_members": (lambda c: c.update(members=[]), MEMBERS),
    "no_calibration": (lambda c: c.pop("calibration"), "calibration must map each task to a positive number"),
    "calibration_text": (
        lambda c: c["calibration"].update(work_function="big"),
        "calibration must map each task to a positive number",
    ),
    "calibration_nan": (
        lambda c: c["calibration"].update(work_function=float("nan")),
        "calibration must map each task to a positive number",
    ),
    "no_member_ids": (lambda c: c.pop("member_ids"), "member_ids must list one model id per member"),
    "short_member_ids": (
        lambda c: c.update(member_ids=c["member_ids"][:1]),
        "member_ids must list one model id per member",
    ),
    "center": (lambda c: c.update(center="median"), "center must be 'mean' or 'first', not 'median'"),
    "model_id_number": (lambda c: c.update(model_id=7), "model_id must be a string"),
}


@pytest.mark.parametrize("fault", MALFORMED_ENSEMBLES)
def test_a_malformed_ensemble_card_is_one_line(tmp_path, fault):
    edit, problem = MALFORMED_ENSEMBLES[fault]
    folder = tmp_path / "ens"
    _copy(folder, name="a")
    _copy(folder, SHIPPED_ENSEMBLE.parent / "ensemble" / "member-s1", name="b")
    card = _ensemble(folder, ["a", "b"])
    d = json.loads(card.read_text())
    edit(d)
    card.write_text(json.dumps(d))
    _one_line_error(card, f"{card}: {problem}")


def test_a_malformed_ensemble_card_is_one_line_on_the_command_line(tmp_path, slab_file):
    folder = tmp_path / "ens"
    _copy(folder, name="a")
    (folder / "ens.json").write_text(json.dumps({"format": "semcgcnn-ensemble-1", "members": [123]}))
    card = folder / "ens.json"
    run = run_cli("predict", str(slab_file), "--out", str(tmp_path / "p.parquet"), "--model", str(card))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().startswith("error: ") and run.stderr.count("\n") == 1, run.stderr


CARD_RANGES = {  # (section, key, value): the problem, after "graph_config." for that section
    ("graph_config", "max_neighbors", 10**9): "max_neighbors = 1000000000 is out of range (1..64)",
    ("graph_config", "max_neighbors", 12.5): "max_neighbors must be an integer, not 12.5",
    ("graph_config", "radius", 1e6): "radius = 1e+06 is out of range (0..20 Å)",
    ("graph_config", "radius", float("nan")): "radius = nan is out of range (0..20 Å)",
    ("graph_config", "gaussian_step", 1e-9): "gaussian_step = 1e-09 is out of range (0.01..20 Å)",
    ("graph_config", "surface_depth", "2"): "surface_depth must be a number, not '2'",
    ("graph_config", "search_radius", -1.0): "search_radius = -1 is out of range (0..20 Å)",
    ("normalizer", "std", (float("inf"), 0.6)): "normalizer 'std' must be finite positive numbers",
    ("normalizer", "std", (0.0, 0.6)): "normalizer 'std' must be finite positive numbers",
    ("normalizer", "mean", (float("nan"), 3.6)): "normalizer 'mean' must be finite numbers",
}


@pytest.mark.parametrize("fault", CARD_RANGES, ids=lambda f: f"{f[1]}={f[2]!r}")
def test_every_card_field_is_range_checked_before_any_allocation(tmp_path, fault):
    section, key, value = fault
    value = list(value) if isinstance(value, tuple) else value
    stem = _edit_card(_copy(tmp_path / "model"), lambda c: c[section].__setitem__(key, value))
    prefix = "graph_config." if section == "graph_config" else ""
    _one_line_error(stem, f"{stem}.json: {prefix}{CARD_RANGES[fault]}")


def test_element_descriptors_and_training_elements_are_checked(tmp_path):
    def bad_table(c):
        c["element_descriptors"]["table"][12][0] = float("inf")

    stem = _edit_card(_copy(tmp_path / "a"), bad_table)
    _one_line_error(stem, f"{stem}.json: element_descriptors.table must be 119 rows of 3 finite numbers")
    short = [[0.0] * 3] * 100
    stem = _edit_card(_copy(tmp_path / "b"), lambda c: c["element_descriptors"].update(table=short))
    _one_line_error(stem, f"{stem}.json: element_descriptors.table must be 119 rows of 3 finite numbers")
    stem = _edit_card(_copy(tmp_path / "c"), lambda c: c.pop("element_descriptors"))
    _one_line_error(
        stem, f"{stem}.json: model_config.n_descriptors is 3 but the card has no element_descriptors"
    )
    stem = _edit_card(_copy(tmp_path / "d"), lambda c: c.update(training_elements=["Mg", 12]))
    _one_line_error(stem, f"{stem}.json: training_elements must be a list of element symbols")


def test_a_pickle_in_place_of_the_weights_is_never_unpickled(tmp_path):
    import pickle

    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    stem = _copy(tmp_path / "model")
    stem.with_suffix(".safetensors").write_bytes(pickle.dumps(Payload()))
    _one_line_error(stem, f"{stem}.safetensors: not a readable safetensors file")
    assert not marker.exists()


def test_predictions_of_a_verified_copy_equal_the_shipped_model(tmp_path, slab_file):
    """A verified copy is the same model: same id, same numbers."""
    from semcgcnn.io import read_structure

    s = read_structure(slab_file)
    copy = load_pretrained(_copy(tmp_path / "model"))
    shipped = load_pretrained(SHIPPED_MODEL)
    a, b = copy.predict([s]), shipped.predict([s])
    assert copy.model_id == shipped.model_id == SHIPPED_ID
    np.testing.assert_array_equal(a["surface_energy_eV_per_A2"], b["surface_energy_eV_per_A2"])
