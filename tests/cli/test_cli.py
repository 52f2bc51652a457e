"""The command line: dataset listing, featurize summary, and one-line errors for user mistakes."""

from __future__ import annotations

from pathlib import Path


def test_datasets_lists_the_five_shipped_sets_with_real_counts(cli):
    out = cli("datasets")
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") > 3}
    for name, count in {
        "mg_binary_slabs": 3218,
        "elemental_slabs": 801,
        "palizhati_slabs": 3033,
        "mg_binary_bulk": 210,
        "elemental_refs": 789,
    }.items():
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
    rows = dict(
        tuple(cell.strip() for cell in line.split("│")[1:3])
        for line in out.stdout.splitlines()
        if line.startswith("│")
    )
    structures = [r.structure for r in load("elemental_slabs")]
    n_atoms = np.array([len(s) for s in structures])
    assert rows["slabs"] == str(len(structures))
    assert rows["chemical systems"] == str(labels("elemental_slabs")["chemsys"].nunique())
    assert (
        rows["atoms (total / median / max per slab)"]
        == f"{n_atoms.sum()} / {int(np.median(n_atoms))} / {n_atoms.max()}"
    )
    assert rows["elements"] == str(len({e.symbol for s in structures for e in s.composition.elements}))
    gs, _ = dataset_graphs("elemental_slabs")
    assert rows["surface atoms (depth 2.0 Å)"] == f"{gs.surface.mean():.1%}"


def test_user_mistakes_give_one_line_errors_not_tracebacks(cli):
    for args in (
        ("featurize", "no_such_set"),
        ("featurize", "mg_binary_bulk"),
        ("featurize", "--radius", "-1"),
    ):
        out = cli(*args)
        assert out.returncode == 2
        assert "Traceback" not in out.stderr and "error:" in out.stderr


def test_screen_refuses_materials_project_bounds_without_the_materials_project(cli, tmp_path):
    """--e-above-hull and --max-elements filter an MP query only: given with the bundled set (or
    your files) they would be silently ignored, so they are refused in one line before any work."""
    for args in (("--e-above-hull", "0.2"), ("--max-elements", "3")):
        out = cli("screen", "--out", str(tmp_path / "s"), "--limit", "1", *args)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "bound a Materials Project query (--source mp)" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


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


MISMATCH = (
    "m.safetensors: weights do not match the model card's model_config: heads.surface_energy.0.weight "
    "is [128, 64] in the weights but [64, 64] by the card (13 more tensors differ)"
)


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
    assert (
        " ".join(out.stderr.split())
        == f"error: {folder}: folder holds 2 checkpoints (m, n): name one, e.g. {folder}/m"
    )


def test_screen_with_a_card_that_does_not_fit_its_weights_is_one_line(cli, tmp_path):
    folder = _mismatched_model(tmp_path)
    out = cli("screen", "--out", str(tmp_path / "s"), "--limit", "1", "--model", str(folder))
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.count("error:") == 1 and MISMATCH in out.stderr


def test_every_command_reports_user_errors_through_one_handler():
    from semcgcnn.cli import app
    from semcgcnn.cli.common import one_line_errors

    handler = one_line_errors(lambda: None).__code__
    (label,) = app.registered_groups
    commands = [*app.registered_commands, *label.typer_instance.registered_commands]
    assert len(app.registered_commands) == 13 and len(commands) == 15
    for cmd in commands:
        assert cmd.callback.__code__ is handler and callable(cmd.callback.__wrapped__), cmd.callback.__name__


def _user_error(call) -> str:
    """The message of the UserError that ``call()`` raises."""
    import pytest

    from semcgcnn.errors import UserError

    with pytest.raises(UserError) as info:
        call()
    return str(info.value)


def test_a_user_error_from_any_command_is_exactly_one_line(tmp_path):
    """Mistakes caught deep in the library (folders, sources, configurations, backends, inputs) print
    their UserError's message as the one line on stderr, nothing on stdout; screen exits 1, others 2."""
    from typer.testing import CliRunner

    from semcgcnn.cli import app
    from semcgcnn.model.checkpoint import resolve_checkpoint
    from semcgcnn.model.config import FinetuneConfig, HyperoptConfig
    from semcgcnn.paths import check_output_dir, check_output_file
    from semcgcnn.pipeline.analysis.formation_energy import resolve_source
    from semcgcnn.pipeline.screen import results
    from semcgcnn.pipeline.screen.candidates import element_filter
    from semcgcnn.workflows.labelling.backends import backend_makers

    empty, a_file, labels = tmp_path / "empty", tmp_path / "a_file", tmp_path / "labels.parquet"
    empty.mkdir()
    a_file.write_text("not a folder")
    labels.write_text("not parquet")
    cases = [  # (arguments, exit status, the library's own message)
        (
            ("select", str(tmp_path / "nowhere"), "--budget", "2", "--out", str(tmp_path / "p")),
            2,
            _user_error(lambda: results.read_table(tmp_path / "nowhere", "predictions")),
        ),
        (
            ("report", str(empty), "--out", str(tmp_path / "r.html")),
            2,
            _user_error(lambda: results.read_tables(empty)),
        ),
        (
            ("dissolution", str(empty), "--source", "shipped"),
            2,
            _user_error(lambda: resolve_source("shipped")),
        ),
        (("predict", str(empty), "--out", str(empty)), 2, _user_error(lambda: check_output_file(empty))),
        (
            ("predict", str(empty), "--out", str(tmp_path / "p.parquet"), "--model", str(empty)),
            2,
            _user_error(lambda: resolve_checkpoint(empty)),
        ),
        (
            ("label", str(a_file), "--out", str(tmp_path / "l"), "--backend", "nonsense"),
            2,
            _user_error(lambda: backend_makers("nonsense", "default")),
        ),
        (
            ("loop", "--out", str(tmp_path / "loop"), "--backend", "nonsense"),
            2,
            _user_error(lambda: backend_makers("nonsense", "default")),
        ),
        (
            ("finetune", "--extra-labels", str(labels), "--out", str(tmp_path / "m"), "--epochs", "0"),
            2,
            _user_error(lambda: FinetuneConfig(epochs=0)),
        ),
        (
            ("hyperopt", "--out", str(tmp_path / "h"), "--max-evals", "0"),
            2,
            _user_error(lambda: HyperoptConfig(max_evals=0)),
        ),
        (
            ("screen", "--out", str(a_file / "s"), "--limit", "1"),
            1,
            _user_error(lambda: check_output_dir(a_file / "s")),
        ),
        (
            ("screen", "--out", str(tmp_path / "s"), "--elements", "Xx", "--limit", "1"),
            1,
            _user_error(lambda: element_filter(["Xx"])),
        ),
    ]

    def printed(res) -> list[str]:  # (screen and label close their empty progress display: a blank line)
        return [line for line in res.stderr.splitlines() if line.strip()]

    for args, code, message in cases:
        res = CliRunner().invoke(app, list(args))
        assert res.exit_code == code, (args, res.exit_code, res.exception)
        assert printed(res) == [f"error: {message}"] and res.stdout == "", (args, res.stderr)
    # a labels file the library cannot read: its path and the reason, one line
    res = CliRunner().invoke(app, ["finetune", "--extra-labels", str(labels), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and len(printed(res)) == 1, res.stderr
    assert printed(res)[0].startswith(f"error: {labels}: not a readable Parquet labels table")
