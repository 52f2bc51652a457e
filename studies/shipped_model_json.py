"""``reports/shipped_model.json``: the shipped default's accuracy, as numbers a script can read.

Each grouped-split seed and the random split is measured here from its split model's checkpoint
(``studies/models/semcgcnn-{grouped,random}-sN``: the shipped recipe trained on that split's
training rows): test MAE overall and per held-out chemical system. The shipped ensemble's card
gives the model id, its members and how each was trained.

    python studies/shipped_model_json.py --grouped-seeds 0,1

A study, not library: it imports the installed ``semcgcnn`` only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from generalise import per_system_errors

from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE, load_checkpoint
from semcgcnn.model.metrics import regression_metrics
from semcgcnn.model.training.data import TASKS, load_slab_tensors
from semcgcnn.model.training.recipes import RECIPES, split_rows
from semcgcnn.model.training.train import predict

log = logging.getLogger("shipped_model_json")
REPO = Path(__file__).resolve().parents[1]
ENSEMBLE_CARD = SHIPPED_ENSEMBLE.with_suffix(".json")


def measure(stem: Path) -> dict:
    """Test metrics and per-system errors of the split model at ``stem``, on its own split."""
    ckpt = load_checkpoint(stem)
    card = ckpt.card
    recipe = RECIPES[card["recipe"]]
    data, frame = load_slab_tensors(recipe.datasets, ckpt.graph_config, descriptors=recipe.descriptors)
    split, seed = card["training_data"]["split"], card["training_data"]["seed"]
    tr, va, te = split_rows(frame, split, seed)
    pred = predict(ckpt.model.eval(), data, te, ckpt.normalizer)
    y = data.y[torch.from_numpy(te)].double().numpy()
    return {
        "model_id": ckpt.model_id,
        "checkpoint": str(stem.relative_to(REPO)) if stem.is_relative_to(REPO) else str(stem),
        "split": split,
        "seed": seed,
        "n_train_val_test": [len(tr), len(va), len(te)],
        "how_trained": card.get("retrained_from", {}).get("how")
        or f"from scratch, {card['train_config']['epochs']} epochs on {card.get('trained_on', '?')}",
        "test": {t: regression_metrics(y[:, k], pred[:, k]) for k, t in enumerate(TASKS)},
        "per_system": per_system_errors(frame, te, y, pred),
    }


def member_entry(name: str, card: dict) -> dict:
    """A member's name, id, seed and how it was trained, from its card."""
    m = card.get("ensemble_member")
    if m:
        how = (
            f"copy of {card['parent_model_id']}, {m['epochs']} more epochs at lr {m['lr']:g} on a "
            f"{'bootstrap resample' if m.get('bootstrap') else 'pass'} of its training rows"
        )
        return {"name": name, "model_id": card["model_id"], "seed": m["seed"], "how_trained": how}
    how = (
        card.get("retrained_from", {}).get("how") or f"from scratch, {card['train_config']['epochs']} epochs"
    )
    return {
        "name": name,
        "model_id": card["model_id"],
        "seed": card["train_config"]["seed"],
        "how_trained": how,
    }


def main(
    grouped_seeds: Annotated[
        str, typer.Option(help="Comma list of grouped-split seeds with a split model.")
    ] = "0,1",
    random_seed: Annotated[int, typer.Option(help="Random-split seed with a split model.")] = 0,
    models: Annotated[Path, typer.Option(help="Folder of the split models.")] = REPO / "studies" / "models",
    ensemble: Annotated[Path, typer.Option(help="The shipped ensemble card.")] = ENSEMBLE_CARD,
    out: Annotated[Path, typer.Option(help="JSON to write.")] = REPO / "reports" / "shipped_model.json",
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    seeds = [int(s) for s in grouped_seeds.split(",")]
    grouped = [measure(models / f"semcgcnn-grouped-s{s}") for s in seeds]
    rand = measure(models / f"semcgcnn-random-s{random_seed}")
    ens = json.loads(Path(ensemble).read_text())
    member_cards = [json.loads((Path(ensemble).parent / f"{m}.json").read_text()) for m in ens["members"]]

    def mean_mae(task: str) -> float:
        return float(np.mean([g["test"][task]["mae"] for g in grouped]))

    summary = {
        "model_id": ens["model_id"],
        "grouped_se_mae": mean_mae("surface_energy"),
        "grouped_wf_mae": mean_mae("work_function"),
        "grouped_seeds": seeds,
        "grouped_se_mae_per_seed": [g["test"]["surface_energy"]["mae"] for g in grouped],
        "grouped_wf_mae_per_seed": [g["test"]["work_function"]["mae"] for g in grouped],
        "random_se_mae": rand["test"]["surface_energy"]["mae"],
        "random_wf_mae": rand["test"]["work_function"]["mae"],
        "random_seed": random_seed,
        "units": {"se": "eV/Å²", "wf": "eV"},
        "n_members": len(ens["members"]),
        "members_independent": False,
        "members": [member_entry(name, c) for name, c in zip(ens["members"], member_cards, strict=True)],
        "measured_with": "each split's single model (the ensemble's first member's recipe) on its test rows",
        "grouped": grouped,
        "random": rand,
    }
    out.write_text(json.dumps(summary, indent=2) + "\n")
    log.info(
        "grouped SE %.4f WF %.3f (seeds %s); random SE %.4f WF %.3f -> %s",
        summary["grouped_se_mae"],
        summary["grouped_wf_mae"],
        seeds,
        summary["random_se_mae"],
        summary["random_wf_mae"],
        out,
    )


if __name__ == "__main__":
    typer.run(main)
