"""Train perturbed ensemble members of a checkpoint: each a copy of the parent trained
a few epochs more on a bootstrap resample of the parent's own training rows, with its own seed.

    python studies/ensemble_members.py --parent model/weights/semcgcnn-mg --out runs/ensemble/shipped \\
        --seeds 1,2,3,4

Members are written as safe checkpoints ``OUT/member-sSEED``; a member already there is kept
(an interrupted run resumes). One thread per process: run two processes for two cores.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from semcgcnn.model.checkpoint import load_checkpoint
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.training.ensemble import MemberConfig, perturbed_member, save_member
from semcgcnn.model.training.finetune import ReplayPool, replay_pool

log = logging.getLogger("ensemble_members")


def split_pool(ckpt, split: str, seed: int) -> tuple[ReplayPool, GraphTensors]:
    """Exactly the training rows of the parent's split (a random split's validation and test rows
    share systems with its training rows, so the card's training systems would let them in), and
    its validation rows as tensors (each member keeps its best epoch on them)."""
    from semcgcnn.model.training.data import slab_graphs
    from semcgcnn.model.training.recipes import split_rows

    gs, y, frame = slab_graphs(tuple(ckpt.card["training_data"]["datasets"]), ckpt.graph_config)
    tr, va, _ = split_rows(frame, split, seed)
    tr = np.sort(tr)
    td = ckpt.card["training_data"]
    n = (td.get("n_train_val_test") or td.get("n_train_val") or [len(tr)])[0]
    if len(tr) != n:
        raise SystemExit(f"{split} split seed {seed} gives {len(tr)} training rows, the card says {n}")
    val = GraphTensors(gs.subset(np.sort(va)), y[np.sort(va)], descriptors=ckpt.descriptor_table)
    return ReplayPool(gs.subset(tr), y[tr], frame.iloc[tr].reset_index(drop=True)), val


def main(
    parent: Annotated[Path, typer.Option(help="Parent checkpoint stem.")],
    out: Annotated[Path, typer.Option(help="Folder for the members.")],
    seeds: Annotated[str, typer.Option(help="Comma list of member seeds.")] = "1,2,3,4",
    epochs: Annotated[int, typer.Option(help="Extra epochs per member.")] = MemberConfig.epochs,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = MemberConfig.lr,
    split: Annotated[
        str,
        typer.Option(
            help="The parent's split (grouped, random, or all for the shipped model's "
            "random 10 %% validation) to resample exactly its training rows and keep "
            "each member's best validation epoch; empty: the rows of its card's "
            "training systems, last epoch."
        ),
    ] = "",
    split_seed: Annotated[int, typer.Option(help="The parent's split seed.")] = 0,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = MemberConfig(epochs=epochs, lr=lr)
    ckpt = load_checkpoint(parent)
    pool, val = split_pool(ckpt, split, split_seed) if split else (replay_pool(ckpt), None)
    log.info("%s: %d training rows to resample", ckpt.model_id, len(pool))
    out.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in seeds.split(",")):
        stem = out / f"member-s{seed}"
        if stem.with_suffix(".json").exists():
            log.info("%s exists, kept", stem)
            continue
        t0 = time.perf_counter()
        model = perturbed_member(ckpt, pool, seed, cfg, val)
        save_member(stem, model, ckpt, seed, cfg)
        log.info("member seed %d written in %.0f s", seed, time.perf_counter() - t0)


if __name__ == "__main__":
    typer.run(main)
