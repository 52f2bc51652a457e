"""Training on real slabs: deterministic, resumable, normalisers from training data only; splits;
checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semcgcnn.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from semcgcnn.model.config import GraphConfig, ModelConfig, TrainConfig
from semcgcnn.model.inference import predict
from semcgcnn.model.training.loop import masked_task_losses
from semcgcnn.model.training.splits import grouped_split, random_split
from semcgcnn.model.training.train import train

CFG = TrainConfig(epochs=4, batch_size=32, lr_drop_epoch=2, threads=1)


def _split(n):
    return random_split(n, seed=3)


def test_training_is_deterministic_and_learns(mg_small):
    data, _ = mg_small
    a = train(data, _split(len(data)), ModelConfig(), CFG, progress=False)
    b = train(data, _split(len(data)), ModelConfig(), CFG, progress=False)
    assert a.metrics == b.metrics
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(v, b.model.state_dict()[k], rtol=0, atol=0)
    first, last = a.history[0], a.history[-1]
    assert last["train_loss"] < first["train_loss"]
    assert [h["lr"] for h in a.history] == [1e-3, 1e-3, 1e-4, 1e-4]
    assert set(a.metrics["test"]) == {"surface_energy", "work_function"}
    assert sum(a.task_weights) == pytest.approx(2.0, abs=1e-5) and a.task_weights != [1.0, 1.0]


def test_normaliser_uses_the_training_split_only(mg_small):
    data, _ = mg_small
    tr, va, te = _split(len(data))
    res = train(
        data, (tr, va, te), ModelConfig(), TrainConfig(epochs=1, batch_size=32, threads=1), progress=False
    )
    y = data.y.double().numpy()
    np.testing.assert_allclose(res.normalizer.mean, y[tr].mean(axis=0))
    np.testing.assert_allclose(res.normalizer.std, y[tr].std(axis=0))
    assert not np.allclose(res.normalizer.mean, y.mean(axis=0))


def test_interrupted_run_resumes_to_the_same_model(mg_small, tmp_path):
    data, _ = mg_small
    split = _split(len(data))
    straight = train(data, split, ModelConfig(), CFG, progress=False)
    # "interrupt" after 2 epochs: the same run directory, then ask for the full schedule again
    train(
        data,
        split,
        ModelConfig(),
        TrainConfig(**{**CFG.to_dict(), "epochs": 2}),
        run_dir=tmp_path,
        progress=False,
    )
    assert torch.load(tmp_path / "last_epoch.pt", weights_only=True)["epoch"] == 2
    resumed = train(data, split, ModelConfig(), CFG, run_dir=tmp_path, progress=False)
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    assert resumed.metrics == straight.metrics


def test_missing_targets_are_masked_out_of_the_loss():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = torch.tensor([[0.0, float("nan")], [3.0, 0.0], [float("nan"), float("nan")]])
    torch.testing.assert_close(masked_task_losses(pred, y), torch.tensor([0.5, 16.0]))


def test_grouped_split_keeps_systems_whole(mg_small):
    from semcgcnn.datasets import labels

    systems = labels("mg_binary_slabs")["chemsys"].to_numpy()
    tr, va, te = grouped_split(systems, seed=0)
    assert len(tr) + len(va) + len(te) == len(systems)
    sets = [set(systems[i]) for i in (tr, va, te)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert 0.15 < len(te) / len(systems) < 0.25 and 0.15 < len(va) / len(systems) < 0.25
    assert grouped_split(systems, seed=0)[2].tolist() == te.tolist()
    assert grouped_split(systems, seed=1)[2].tolist() != te.tolist()
    # the random split: 60/20/20 of the dataset's rows to the nearest row, each row in one part
    n = len(systems)
    tr, va, te = random_split(n, 0)
    assert abs(len(tr) - 0.6 * n) <= 0.5 and abs(len(va) - 0.2 * n) <= 0.5 and abs(len(te) - 0.2 * n) <= 1
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(n))
    assert random_split(n, 0)[2].tolist() == te.tolist() != random_split(n, 1)[2].tolist()


def test_checkpoint_round_trip_and_card(mg_small, tmp_path):
    data, _ = mg_small
    res = train(
        data,
        _split(len(data)),
        ModelConfig(),
        TrainConfig(epochs=1, batch_size=32, threads=1),
        progress=False,
    )
    path = save_checkpoint(
        tmp_path / "m",
        res.model,
        GraphConfig(),
        res.normalizer,
        CFG,
        training_data={"datasets": ["mg_binary_slabs"]},
        metrics=res.metrics,
    )
    ck = load_checkpoint(path)
    idx = np.arange(len(data))
    np.testing.assert_allclose(
        predict(ck.model, data, idx, ck.normalizer), predict(res.model, data, idx, res.normalizer)
    )
    card = json.loads(path.read_text())
    assert card["graph_config"]["surface_depth"] == 2.0 and card["graph_config"]["radius"] == 12.0
    assert [t["unit"] for t in card["tasks"]] == ["eV/Å²", "eV"]
    assert card["model_id"].startswith("semcgcnn-") and len(card["atom_table_sha256_16"]) == 16
    assert (tmp_path / "m.safetensors").exists()


def test_bad_checkpoints_are_refused(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    (tmp_path / "x.safetensors").write_bytes(b"\x80\x04pickle?")
    with pytest.raises(CheckpointError, match="not a JSON"):
        load_checkpoint(tmp_path / "x")
    with pytest.raises(CheckpointError, match="needs both"):
        load_checkpoint(tmp_path / "missing")


def _shipped_copy(folder, edit=None, card_text=None):
    """The shipped checkpoint copied into ``folder`` as ``m.json`` + ``m.safetensors``, its card
    changed by ``edit(card)`` or replaced by ``card_text``."""
    import shutil

    from semcgcnn.model.checkpoint import SHIPPED_MODEL

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED_MODEL.with_suffix(".safetensors"), folder / "m.safetensors")
    card = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())
    if edit:
        edit(card)
    (folder / "m.json").write_text(card_text if card_text is not None else json.dumps(card))
    return folder / "m"


def _set(section, key, value):
    return lambda card: card[section].__setitem__(key, value)


CARD_FAULTS = {  # name: (card edit or replacement text, the one-line problem after "<file>: ")
    "h_fea_len": (
        _set("model_config", "h_fea_len", 64),
        "m.safetensors: weights do not match the model card's model_config: heads.surface_energy.0.weight "
        "is [128, 64] in the weights but [64, 64] by the card (13 more tensors differ)",
    ),
    "n_conv": (
        _set("model_config", "n_conv", 2),
        "m.safetensors: weights do not match the model card's model_config: "
        "12 tensor(s) the card does not describe, e.g. convs.2.bn1.bias",
    ),
    "list": ("[1, 2]", "m.json: checkpoint card is a JSON list, not an object"),
    "no_model_config": (lambda card: card.pop("model_config"), "m.json: checkpoint card lacks model_config"),
    "huge_layer": (
        _set("model_config", "atom_fea_len", 10**6),
        "m.json: model_config.atom_fea_len = 1000000 is out of range (1..8192)",
    ),
    "too_many_weights": (
        lambda card: card["model_config"].update(atom_fea_len=8192, h_fea_len=8192, n_hidden=64),
        "m.json: model_config implies 9,400,442,892 weights, over the 50,000,000 this loader "
        "accepts (is a layer size mistyped?)",
    ),
    "string_size": (
        _set("model_config", "n_conv", "three"),
        "m.json: model_config.n_conv must be an integer, not 'three'",
    ),
    "unknown_task": (
        _set("model_config", "tasks", ["band_gap"]),
        "m.json: model_config.tasks: unknown task(s) band_gap (known: surface_energy, work_function, "
        "bulk_modulus_vrh, shear_modulus_vrh, energy_per_atom)",
    ),
    "gaussians": (
        _set("graph_config", "radius", 8.0),
        "m.json: graph_config gives 41 Gaussian distance features but model_config.n_gaussians is 61",
    ),
    "readout": (
        _set("model_config", "readout", "sum"),
        "m.json: model_config is malformed (unknown readout 'sum'; choose one of paper, surface)",
    ),
    "normalizer": (
        _set("normalizer", "mean", [0.1]),
        "m.json: normalizer must hold 'mean' and 'std' lists of 2 numbers (one per task)",
    ),
}


@pytest.mark.parametrize("fault", CARD_FAULTS)
def test_a_card_that_does_not_fit_its_weights_is_one_line_error(tmp_path, fault):
    """Checked from the card and the safetensors header before any model is built (no 160 GB allocation)."""
    edit, problem = CARD_FAULTS[fault]
    stem = _shipped_copy(tmp_path, *((None, edit) if isinstance(edit, str) else (edit,)))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(stem)
    assert str(info.value) == f"{tmp_path}/{problem}"


def test_model_folder_holding_one_pair_loads_and_zero_or_two_are_refused(tmp_path):
    from semcgcnn.model.checkpoint import SHIPPED_MODEL, resolve_checkpoint

    assert resolve_checkpoint(SHIPPED_MODEL.parent) == SHIPPED_MODEL
    ck = load_checkpoint(_shipped_copy(tmp_path / "one").parent)
    assert ck.model_id == load_checkpoint(SHIPPED_MODEL).model_id
    (tmp_path / "none").mkdir()
    (tmp_path / "none" / "notes.json").write_text("{}")
    with pytest.raises(CheckpointError, match=f"^{tmp_path}/none: folder holds no checkpoint"):
        load_checkpoint(tmp_path / "none")
    _shipped_copy(tmp_path / "two")
    import shutil

    shutil.copy(tmp_path / "two" / "m.safetensors", tmp_path / "two" / "n.safetensors")
    shutil.copy(tmp_path / "two" / "m.json", tmp_path / "two" / "n.json")
    with pytest.raises(
        CheckpointError, match=f"^{tmp_path}/two: folder holds 2 checkpoints \\(m, n\\): name one"
    ):
        load_checkpoint(tmp_path / "two")


def test_train_variant_trains_and_saves_a_loadable_model_of_the_paper_variant(tmp_path):
    # what `semcgcnn train` runs: the sem variant on the grouped split of all 3218 Mg slabs, one epoch
    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.model.training.recipes import train_variant

    card_path, res = train_variant(
        tmp_path / "sem", "sem", TrainConfig(epochs=1, batch_size=64, split="grouped", seed=0, threads=1)
    )
    card = json.loads(card_path.read_text())
    assert card["train_config"]["weighting"] == "gradnorm" and card["model_config"]["surface_flag"] is True
    n_train, n_val, n_test = card["training_data"]["n_train_val_test"]
    assert n_train + n_val + n_test == 3218 and n_test > 300
    test = res.metrics["test"]
    assert test["surface_energy"]["n"] == n_test and 0 < test["surface_energy"]["mae"] < 0.1
    p = load_pretrained(card_path)
    assert p.model_id == card["model_id"] and p.checkpoint.tasks == ("surface_energy", "work_function")
    with pytest.raises(ValueError, match="one model per task"):
        train_variant(tmp_path / "stl", "stl", TrainConfig(epochs=1))
