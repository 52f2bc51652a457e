"""``semcgcnn hyperopt``: the TPE hyper-parameter search of the paper (§2.3) on the Mg–X slabs."""

from __future__ import annotations

from typing import Annotated

import typer

from semcgcnn.model.config import HyperoptConfig

from .common import Device, Seed, Threads, check_device, console, fail

DEFAULTS = HyperoptConfig()


def hyperopt(
    out: Annotated[
        str,
        typer.Option(
            help="Search folder: trials.json (every finished trial, written live; a search "
            "started again with the same options resumes from it) and hyperopt.json "
            "(all trials and the best) at the end."
        ),
    ],
    max_evals: Annotated[
        int, typer.Option(help="Trials in all (the paper: 200); raise it to continue a finished search.")
    ] = DEFAULTS.max_evals,
    epochs: Annotated[
        int, typer.Option(help="Epochs per trial (×0.1 learning rate after 2/3 of them).")
    ] = DEFAULTS.epochs,
    split: Annotated[
        str,
        typer.Option(
            help="Fixed split validated on: grouped (whole Mg–X systems held out, as "
            "screening meets them) or random."
        ),
    ] = DEFAULTS.split,
    train_fraction: Annotated[
        float,
        typer.Option(
            help="Share of the training rows each trial trains on (a seeded subsample, for a cheaper search)."
        ),
    ] = DEFAULTS.train_fraction,
    n_startup: Annotated[
        int, typer.Option(help="Random trials before TPE models the history.")
    ] = DEFAULTS.n_startup,
    seed: Seed = DEFAULTS.seed,
    threads: Threads = DEFAULTS.threads,
    device: Device = DEFAULTS.device,
) -> None:
    """Search learning rate, batch size, layer sizes and counts, surface depth, GradNorm α and weight
    decay with hyperopt's TPE; each trial trains on a fixed split of the Mg–X slabs and is scored by its
    best validation score (mean over tasks of validation MAE / training std)."""
    from pathlib import Path

    from semcgcnn.model.training.tpe_search import run_search

    check_device(device)
    cfg = HyperoptConfig(
        max_evals=max_evals,
        epochs=epochs,
        split=split,
        seed=seed,
        n_startup=n_startup,
        train_fraction=train_fraction,
        threads=threads,
        device=device,
    )
    result = run_search(Path(out), cfg)
    best = result["best"]
    if best is None:
        raise fail(f"no trial finished; see {out}/trials.json", code=1)
    console.print(
        f"best of {len(result['trials'])} trials: val loss {best['val_loss']:.4f} (trial {best['tid']}) "
        f"{best['params']}; results in {out}/hyperopt.json"
    )
