"""``semcgcnn ship``: its defaults are the packaged model's recipe, and it never overwrites the
packaged model without ``--force`` (refused before any data is loaded or any training starts)."""

from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_ship_refuses_to_overwrite_the_packaged_model_and_defaults_to_its_recipe(tmp_path, monkeypatch):
    from semcgcnn.cli import app
    from semcgcnn.model.checkpoint import SHIPPED_MODEL

    card = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())
    files = [SHIPPED_MODEL.with_suffix(".json"), SHIPPED_MODEL.with_suffix(".safetensors")]
    before = [_digest(p) for p in files]
    monkeypatch.chdir(tmp_path)  # the default --runs-dir (runs/ship) would land here
    runner = CliRunner()
    # the recipe's schedule from scratch: the packaged model was trained so, then retrained a few
    # epochs on the site-order-invariant graph (its card keeps the original schedule)
    schedule = card.get("retrained_from", {}).get("original_train_config", card["train_config"])
    what = (
        f"(recipe {card['recipe']}, {schedule['epochs']} epochs, "
        f"lr drop at {schedule['lr_drop_epoch']}, {card['model_config']['readout']} readout)"
    )
    # the shipped card's record is the issue's: the defaults must equal these numbers
    assert what == "(recipe joint+desc+mp, 150 epochs, lr drop at 100, surface readout)"
    for args in (
        ["ship"],
        ["ship", "--out", str(SHIPPED_MODEL)],
        ["ship", "--out", str(SHIPPED_MODEL.with_suffix(".json"))],
        ["ship", "--out", str(SHIPPED_MODEL.with_suffix(".safetensors"))],
    ):
        out = runner.invoke(app, args, env={"COLUMNS": "400"})
        assert out.exit_code == 2, (args, out.output)
        err = out.stderr.strip()
        assert "\n" not in err and "Traceback" not in out.output, (args, err)
        assert err == (
            f"error: refusing to overwrite the packaged model {SHIPPED_MODEL} {what}: "
            "pass --out STEM to write a new checkpoint, or --force to replace it"
        ), (args, err)
    # options given explicitly show in the refusal: it reports what would have been trained
    out = runner.invoke(
        app, ["ship", "--recipe", "mg", "--epochs", "3", "--lr-drop-epoch", "2", "--readout", "paper"]
    )
    assert out.exit_code == 2
    assert "(recipe mg, 3 epochs, lr drop at 2, paper readout)" in out.stderr
    assert [_digest(p) for p in files] == before
    assert list(tmp_path.iterdir()) == []  # no runs folder: nothing started
