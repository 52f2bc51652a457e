"""Export a split's model of the generalisation study as a safe checkpoint: the grouped-split seed-0
model (a base model that never saw 21 Mg–X systems, for the fine-tuning test, the ensemble's
calibration and active learning) or the random-split one (``--split random``).

    python studies/export_split_model.py \\
        --resume /work/main/runs/generalise/150ep/grouped/joint+desc+mp-rosurface-seed0/last_epoch.pt \\
        --result reports/shipped_runs/150ep/grouped/joint+desc+mp-rosurface-seed0.json \\
        --out studies/models/semcgcnn-grouped-s0

The resume file (``last_epoch.pt`` of ``studies/generalise.py``, recipe ``joint+desc+mp``, surface
readout, grouped split, seed 0, 150 epochs) holds the best-validation state dict. This script
rebuilds what ``train()`` had (data, split, the normaliser fitted on the training rows, the target
scale), loads that state dict (``torch.load(weights_only=True)``: no pickle code runs), checks
that its test MAE reproduces the recorded result to 1e-6, and saves it with ``save_checkpoint``;
the card lists the systems the model never saw (test and validation).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import torch
import typer

from semcgcnn.model.checkpoint import save_checkpoint
from semcgcnn.model.config import GraphConfig, TrainConfig
from semcgcnn.model.descriptors import descriptor_names
from semcgcnn.model.inference import Normalizer, predict
from semcgcnn.model.metrics import regression_metrics
from semcgcnn.model.network import SEMCGCNN
from semcgcnn.model.training.data import TASKS, load_slab_tensors, training_elements
from semcgcnn.model.training.recipes import RECIPES, split_rows

log = logging.getLogger("export_split_model")

RECIPE, READOUT = "joint+desc+mp", "surface"
TOLERANCE = 1e-6


def main(
    resume: Annotated[Path, typer.Option(help="last_epoch.pt of the grouped seed-0 run (read only).")],
    result: Annotated[Path, typer.Option(help="The run's result JSON (test MAE to reproduce).")],
    out: Annotated[Path, typer.Option(help="Checkpoint stem to write.")] = Path(
        "studies/models/semcgcnn-grouped-s0"
    ),
    split: Annotated[str, typer.Option(help="grouped or random (the run's split).")] = "grouped",
    seed: Annotated[int, typer.Option(help="The run's split and initialisation seed.")] = 0,
) -> None:
    SEED = seed
    SPLIT = split
    torch.set_num_threads(1)
    recorded = json.loads(result.read_text())
    r = RECIPES[RECIPE]
    gcfg = GraphConfig.from_dict(recorded["graph_config"])
    assert gcfg.key() == GraphConfig().key(), "the run used another graph config"
    tcfg = TrainConfig.from_dict(recorded["train_config"])
    mcfg = r.model_config(READOUT)
    assert mcfg.to_dict() == recorded["model_config"], "the run used another model config"
    data, frame = load_slab_tensors(r.datasets, gcfg, descriptors=r.descriptors)
    tr, va, te = split_rows(frame, SPLIT, SEED)
    assert [len(tr), len(va), len(te)] == recorded["n_train_val_test"]
    normalizer = Normalizer.fit(data.y[torch.from_numpy(tr)].double().numpy())  # as train._start does
    blob = torch.load(resume, weights_only=True, map_location="cpu")
    model = SEMCGCNN(mcfg).set_target_scale(normalizer.mean, normalizer.std)
    model.load_state_dict(blob["best_model"])
    model.eval()
    assert blob["best_epoch"] == recorded["best_epoch"], (blob["best_epoch"], recorded["best_epoch"])
    pred = predict(model, data, te, normalizer)
    y = data.y[torch.from_numpy(te)].double().numpy()
    test = {t: regression_metrics(y[:, k], pred[:, k]) for k, t in enumerate(TASKS)}
    for t in TASKS:
        diff = abs(test[t]["mae"] - recorded["test"][t]["mae"])
        log.info(
            "%s test MAE %.8f (recorded %.8f, |diff| %.1e)",
            t,
            test[t]["mae"],
            recorded["test"][t]["mae"],
            diff,
        )
        if diff > TOLERANCE:
            raise SystemExit(
                f"{t}: test MAE {test[t]['mae']} does not reproduce the recorded {recorded['test'][t]['mae']}"
            )
    chemsys = frame["chemsys"].to_numpy()
    test_systems = sorted(set(chemsys[te]))
    assert SPLIT != "grouped" or test_systems == recorded["test_systems"]
    extra = {
        "recipe": RECIPE,
        "training_elements": training_elements(data, tr),
        "training_systems": sorted(set(chemsys[tr])),
        **(
            {
                "validation_systems": sorted(set(chemsys[va])),
                "test_systems": test_systems,
                "never_seen_systems": sorted(set(chemsys[va]) | set(test_systems)),
            }
            if SPLIT == "grouped"
            else {}
        ),
        "best_epoch": int(blob["best_epoch"]),
        "trained_on": recorded["device"],
        "exported_from": {
            "resume_file": resume.name,
            "run": str(resume.parent.relative_to(resume.parents[3])),
            "result": result.name,
        },
        "evaluation": {f"{SPLIT}_{tcfg.epochs}ep_seed{SEED}": test},
        "element_descriptors": {
            "names": list(descriptor_names(r.descriptors)),
            "set": r.descriptors,
            "table": data.descriptor_table.tolist(),
        },
    }
    card = save_checkpoint(
        out,
        model,
        gcfg,
        normalizer,
        replace(tcfg, split=SPLIT),
        training_data={
            "datasets": list(r.datasets),
            "split": SPLIT,
            "seed": SEED,
            "n_train_val_test": [int(len(tr)), int(len(va)), int(len(te))],
        },
        metrics={"test": test},
        extra=extra,
    )
    log.info("wrote %s", card)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    typer.run(main)
