"""Give the shipped ensemble its distance-aware σ: the first member's surface embeddings of its
own training rows as the kNN reference, and the σ weights fitted on the grouped splits'
validation systems (``reports/uncertainty_distance.json``, ``shipped_sigma``).

    python studies/ship_distance_sigma.py

Writes ``model/weights/ensemble/reference-embeddings.safetensors`` and rewrites the ensemble card
(new ``distance`` section, so a new model id) in place.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import typer

from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE
from semcgcnn.model.ensemble import load_ensemble, save_ensemble
from semcgcnn.model.training.reference import REFERENCE_FILE, distance_section, training_reference

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("ship_distance_sigma")


def main(
    fit: Path = REPO / "reports" / "uncertainty_distance.json",
    card: Path = SHIPPED_ENSEMBLE,
    threads: int = 2,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(threads)
    res = json.loads(fit.read_text())
    shipped = res["shipped_sigma"]
    k = res["results"][0]["k"]
    ens = load_ensemble(card)
    ref = training_reference(ens.members[0], k)
    log.info(
        "%d training embeddings, k=%d, median leave-one-out distance %.3f", len(ref.points), k, ref.scale
    )
    extra = {
        key: v
        for key, v in ens.card.items()
        if key not in ("format", "model_id", "members", "member_ids", "calibration")
    }
    extra["distance"] = distance_section(
        ref,
        card.parent / "ensemble" / REFERENCE_FILE,
        card.parent,
        shipped["tasks"],
        f"grouped split seeds {shipped['seeds']}, validation systems pooled "
        "(studies/uncertainty_distance.py, semcgcnn.model.uncertainty.fit_task_sigma, 2σ at 95.45 %)",
    )
    extra["description"] = (
        "the shipped model and perturbed members (a few more epochs each on a bootstrap resample of its "
        "training rows); σ = c·√(s² + b·d²) per task from the members' std s and the relative distance d "
        "of the slab to the first member's training slabs (distance section); calibration: the spread-only "
        "scales of the grouped split's validation systems"
    )
    stems = [card.parent / m for m in ens.card["members"]]
    out = save_ensemble(card, stems, ens.calibration, extra)
    log.info("wrote %s: %s", out, json.loads(out.read_text())["model_id"])


if __name__ == "__main__":
    typer.run(main)
