"""The command line: dataset listing, featurize summary, and one-line errors for user mistakes."""

from __future__ import annotations

from pathlib import Path


def test_datasets_lists_the_five_shipped_sets_with_real_counts(cli):
    out = cli("datasets")
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") > 3}
    for name, count in {"mg_binary_slabs": 3218, "elemental_slabs": 801, "palizhati_slabs": 3033,
                        "mg_binary_bulk": 210, "elemental_refs": 789}.items():
        assert f"│ {count}" in rows[name].replace("  ", " ") or f" {count} " in rows[name]
    assert "eV/Å²" in out.stdout


def test_featurize_prints_summary(cli):
    """The summary's numbers are the dataset's: slabs, systems, atoms and elements counted from its
    structures, the surface fraction from its graphs."""
    import numpy as np

    from semcgcnn.datasets import labels, load
    from semcgcnn.model.graphs import dataset_graphs

    out = cli("featurize", "elemental_slabs")
    assert out.returncode == 0, out.stderr
    rows = dict(tuple(cell.strip() for cell in line.split("│")[1:3]) for line in out.stdout.splitlines()
                if line.startswith("│"))
    structures = [r.structure for r in load("elemental_slabs")]
    n_atoms = np.array([len(s) for s in structures])
    assert rows["slabs"] == str(len(structures))
    assert rows["chemical systems"] == str(labels("elemental_slabs")["chemsys"].nunique())
    assert rows["atoms (total / median / max per slab)"] == \
        f"{n_atoms.sum()} / {int(np.median(n_atoms))} / {n_atoms.max()}"
    assert rows["elements"] == str(len({e.symbol for s in structures for e in s.composition.elements}))
    gs, _ = dataset_graphs("elemental_slabs")
    assert rows["surface atoms (depth 2.0 Å)"] == f"{gs.surface.mean():.1%}"


def test_user_mistakes_give_one_line_errors_not_tracebacks(cli):
    for args in (("featurize", "no_such_set"), ("featurize", "mg_binary_bulk"), ("featurize", "--radius", "-1")):
        out = cli(*args)
        assert out.returncode == 2
        assert "Traceback" not in out.stderr and "error:" in out.stderr


def _mismatched_model(tmp_path: Path) -> Path:
    """The shipped model's folder copied, its card's h_fea_len changed so it no longer fits the weights."""
    import json
    import shutil

    from semcgcnn.model.checkpoint import SHIPPED_MODEL

    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(SHIPPED_MODEL.with_suffix(".safetensors"), folder / "m.safetensors")
    card = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())
    card["model_config"]["h_fea_len"] = 64
    (folder / "m.json").write_text(json.dumps(card))
    return folder


MISMATCH = ("m.safetensors: weights do not match the model card's model_config: heads.surface_energy.0.weight "
            "is [128, 64] in the weights but [64, 64] by the card (13 more tensors differ)")


def test_predict_with_a_card_that_does_not_fit_its_weights_is_one_line(cli, tmp_path):
    folder = _mismatched_model(tmp_path)
    for model in (folder / "m", folder / "m.json", folder):  # stem, card, or the model's folder
        out = cli("predict", str(tmp_path), "--out", str(tmp_path / "p.parquet"), "--model", str(model))
        assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr, out.stderr
        assert " ".join(out.stderr.split()) == f"error: {folder}/{MISMATCH}"  # (rich wraps at 200 columns)


def test_predict_model_folder_with_two_checkpoints_is_one_line(cli, tmp_path):
    import shutil

    folder = _mismatched_model(tmp_path)
    shutil.copy(folder / "m.json", folder / "n.json")
    shutil.copy(folder / "m.safetensors", folder / "n.safetensors")
    out = cli("predict", str(tmp_path), "--out", str(tmp_path / "p.parquet"), "--model", str(folder))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert " ".join(out.stderr.split()) == f"error: {folder}: folder holds 2 checkpoints (m, n): name one, e.g. {folder}/m"


def test_screen_with_a_card_that_does_not_fit_its_weights_is_one_line(cli, tmp_path):
    folder = _mismatched_model(tmp_path)
    out = cli("screen", "--out", str(tmp_path / "s"), "--limit", "1", "--model", str(folder))
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("error:") == 1 and MISMATCH in out.stderr
