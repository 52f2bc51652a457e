"""Retrain a model on the site-order-invariant graph, starting from its own weights.

The featurizer's tie rule (every neighbour tied with the 12th enters with a shared weight)
changes the input of atoms whose 12th and 13th neighbours sit at one distance (23 % of the
Mg–X slab atoms). A model trained on the old graph is retrained here on the new one: the same
recipe, the same rows (split and seed read from its card, so the normaliser is the same), its
weights as the starting point, a short schedule, the best-validation epoch kept. Test metrics are
recorded before (the old weights on the new graph) and after.

    python studies/invariant_retrain.py --init studies/models/semcgcnn-grouped-s0 \\
        --out studies/models/semcgcnn-grouped-s0 --result reports/invariant_runs/grouped-s0.json

Starting from weights trained on the same rows keeps a split model honest (no test row was ever
seen). A study, not library: it imports the installed ``semcgcnn`` only.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from semcgcnn.model.checkpoint import load_checkpoint, save_checkpoint
from semcgcnn.model.config import GraphConfig, TrainConfig
from semcgcnn.model.descriptors import descriptor_names
from semcgcnn.model.metrics import regression_metrics
from semcgcnn.model.training.data import TASKS, load_slab_tensors, training_elements
from semcgcnn.model.training.recipes import RECIPES, device_name, split_rows
from semcgcnn.model.training.train import TrainResult, predict, train

log = logging.getLogger("invariant_retrain")


def _test_metrics(model, data, te, normalizer) -> dict:
    if not len(te):
        return {}
    pred = predict(model, data, te, normalizer)
    y = data.y[torch.from_numpy(te)].double().numpy()
    return {t: regression_metrics(y[:, k], pred[:, k]) for k, t in enumerate(TASKS)}


def _recovered(out: Path, result: Path, ckpt, data, tr) -> TrainResult:
    """The trained model of a finished run from its weights file (read with safetensors) and its
    result JSON (best epoch, history); the normaliser is refitted on the same training rows."""
    from safetensors.torch import load_file

    from semcgcnn.model.inference import Normalizer
    from semcgcnn.model.network import SEMCGCNN

    summary = json.loads(result.read_text())
    normalizer = Normalizer.fit(data.y[torch.from_numpy(tr)].double().numpy())
    model = SEMCGCNN(ckpt.model.cfg).set_target_scale(normalizer.mean, normalizer.std)
    model.load_state_dict(load_file(str(out.with_suffix(".safetensors"))))
    return TrainResult(
        model.eval(), normalizer, {}, history=summary["history"], best_epoch=summary["best_epoch"]
    )


def main(
    init: Annotated[
        Path, typer.Option(help="Checkpoint stem trained on the old graph (its weights start the run).")
    ],
    out: Annotated[Path, typer.Option(help="Checkpoint stem to write.")],
    result: Annotated[Path, typer.Option(help="Result JSON to write.")],
    epochs: Annotated[int, typer.Option(help="Epochs on the new graph.")] = 40,
    lr: Annotated[
        float, typer.Option(help="Adam learning rate (the original's after its drop: 1e-4).")
    ] = 3e-4,
    lr_drop_epoch: Annotated[int, typer.Option(help="Epoch of the ×0.1 drop.")] = 25,
    threads: Annotated[int, typer.Option(help="torch threads (one per process when several run).")] = 1,
    runs_dir: Annotated[
        Path | None, typer.Option(help="Epoch checkpoints, so an interrupted run resumes.")
    ] = None,
    recover: Annotated[
        bool,
        typer.Option(
            "--recover",
            help="Rebuild OUT's card from OUT.safetensors and RESULT (a run whose card was lost) "
            "instead of training.",
        ),
    ] = False,
) -> None:
    if Path(result).with_suffix("") == Path(out).with_suffix(""):
        raise SystemExit("--result must not be the checkpoint's own card (OUT.json)")
    ckpt = load_checkpoint(init)
    card = json.loads(Path(init).with_suffix(".json").read_text())
    tcfg0 = TrainConfig.from_dict(card["train_config"])
    recipe = RECIPES[card["recipe"]]
    gcfg = GraphConfig()
    data, frame = load_slab_tensors(recipe.datasets, gcfg, descriptors=recipe.descriptors)
    split = card["train_config"]["split"]
    tr, va, te = split_rows(frame, split, tcfg0.seed)
    recorded = card["training_data"].get("n_train_val_test") or card["training_data"].get("n_train_val")
    assert [len(tr), len(va), len(te)][: len(recorded)] == recorded, "the rows differ from the card's"
    before = _test_metrics(ckpt.model.eval(), data, te, ckpt.normalizer)
    tcfg = replace(tcfg0, epochs=epochs, lr=lr, lr_drop_epoch=lr_drop_epoch, threads=threads)
    t0 = time.perf_counter()
    if recover:
        res = _recovered(Path(out), Path(result), ckpt, data, tr)
        minutes = json.loads(Path(result).read_text())["train_minutes"]
    else:
        res = train(
            data, (tr, va, te), ckpt.model.cfg, tcfg, run_dir=runs_dir, progress=False, init=ckpt.model
        )
        minutes = (time.perf_counter() - t0) / 60
    after = _test_metrics(res.model, data, te, res.normalizer)
    chemsys = frame["chemsys"].to_numpy()
    keep = ("test_systems", "never_seen_systems", "validation_systems")
    extra = {
        "recipe": card["recipe"],
        "training_elements": training_elements(data, tr),
        "training_systems": sorted(set(chemsys[tr])),
        **{k: card[k] for k in keep if card.get(k) is not None},
        "best_epoch": res.best_epoch,
        "trained_on": device_name(tcfg.device),
        "retrained_from": {
            "model_id": ckpt.model_id,
            "how": f"its weights, {epochs} epochs on the site-order-invariant graph "
            f"(lr {lr:g}, ×0.1 from epoch {lr_drop_epoch}), best validation epoch kept",
            "original_train_config": card["train_config"],
        },
        "evaluation": {f"{split}_seed{tcfg0.seed}": after} if after else card.get("evaluation", {}),
        "element_descriptors": {
            "names": list(descriptor_names(recipe.descriptors)),
            "set": recipe.descriptors,
            "table": data.descriptor_table.tolist(),
        },
    }
    n_split = (
        {"n_train_val_test": [len(tr), len(va), len(te)]} if len(te) else {"n_train_val": [len(tr), len(va)]}
    )
    card_path = save_checkpoint(
        out,
        res.model,
        gcfg,
        res.normalizer,
        tcfg,
        training_data={
            "datasets": list(recipe.datasets),
            "split": split,
            "seed": tcfg0.seed,
            **({"sha256": card["training_data"]["sha256"]} if "sha256" in card["training_data"] else {}),
            **n_split,
        },
        metrics={"test": after} if after else {},
        extra=extra,
    )
    result.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "init": str(init),
        "init_model_id": ckpt.model_id,
        "model_id": json.loads(card_path.read_text())["model_id"],
        "split": split,
        "seed": tcfg0.seed,
        "epochs": epochs,
        "lr": lr,
        "lr_drop_epoch": lr_drop_epoch,
        "best_epoch": res.best_epoch,
        "train_minutes": round(minutes, 2),
        "threads": threads,
        "test_old_weights_new_graph": before,
        "test_retrained": after,
        "history": res.history,
    }
    result.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    for t in TASKS:
        if before:
            log.info("%s test MAE: old weights %.5f -> retrained %.5f", t, before[t]["mae"], after[t]["mae"])
    log.info("wrote %s (%.1f min)", card_path, minutes)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    np.seterr(all="ignore")
    typer.run(main)
