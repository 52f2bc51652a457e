"""Training commands: ``train`` (one Table-1 variant on the Mg slabs), ``ship`` (the shipped
model) and ``finetune`` (a checkpoint on new labels from ``semcgcnn label``). The studies that
compare variants and recipes (Table 1, the generalisation sweep) are scripts in the repository's
``studies/``, not commands."""

from __future__ import annotations

from typing import Annotated

import typer

from semcgcnn.errors import UserError
from semcgcnn.model.config import FinetuneConfig

from .common import (
    DEFAULT_GRAPH,
    DEFAULT_TRAIN,
    Device,
    Epochs,
    Graphs,
    LrDropEpoch,
    Seed,
    SurfaceDepth,
    Threads,
    check_readout,
    console,
    fail,
    training_setup,
)

FINETUNE_DEFAULTS = FinetuneConfig()

ExtraLabelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--extra-labels",
        help="labels.parquet from `semcgcnn label` (repeatable): its slabs join the TRAINING rows only, "
        "never validation or test (a labelled slab of a held-out system makes that system's "
        "metrics optimistic; the card counts such rows). The card records each file's name, "
        "sha256 and row count.",
    ),
]


def _extra_label_paths(extra_labels: list[str] | None):
    """The ``--extra-labels`` files, each checked to exist (one-line error otherwise)."""
    from pathlib import Path

    paths = [Path(p) for p in extra_labels or []]
    for p in paths:
        if not p.is_file():
            raise fail(f"--extra-labels {p}: file not found")
    return paths


def train(
    out: Annotated[str, typer.Option(help="Checkpoint path stem: writes OUT.safetensors and OUT.json.")],
    variant: Annotated[str, typer.Option(help="sem, mtl-surface, mtl-gradnorm or mtl.")] = "sem",
    split: Annotated[
        str, typer.Option(help="'random' (paper) or 'grouped' (whole chemical systems held out).")
    ] = "random",
    seed: Seed = 0,
    epochs: Epochs = DEFAULT_TRAIN.epochs,
    lr_drop_epoch: LrDropEpoch = DEFAULT_TRAIN.lr_drop_epoch,
    batch_size: Annotated[int, typer.Option(help="Crystals per batch.")] = DEFAULT_TRAIN.batch_size,
    surface_depth: SurfaceDepth = DEFAULT_GRAPH.surface_depth,
    run_dir: Annotated[
        str, typer.Option(help="Epoch checkpoints; an interrupted run resumes from here.")
    ] = "",
    readout: Annotated[
        str, typer.Option(help="paper (mean pooling, Table 1) or surface (thickness-invariant).")
    ] = "paper",
    extra_labels: ExtraLabelsOption = None,
) -> None:
    """Train one multi-task model on the shipped Mg slabs and save a safe checkpoint."""
    from pathlib import Path

    from semcgcnn.model.config import GraphConfig, TrainConfig
    from semcgcnn.model.training.recipes import VARIANTS, train_variant

    if variant not in VARIANTS or variant == "stl":
        raise fail(f"unknown multi-task variant {variant!r}; choose sem, mtl-surface, mtl-gradnorm or mtl")
    if split not in ("random", "grouped") or epochs < 1 or surface_depth < 0:
        raise fail("split must be random or grouped, epochs ≥ 1 and surface depth ≥ 0 Å")
    check_readout(readout)
    extra = _extra_label_paths(extra_labels)
    tcfg = TrainConfig(
        epochs=epochs, lr_drop_epoch=lr_drop_epoch, batch_size=batch_size, split=split, seed=seed
    )
    card, res = train_variant(
        Path(out),
        variant,
        tcfg,
        GraphConfig(surface_depth=surface_depth),
        run_dir=Path(run_dir) if run_dir else None,
        readout=readout,
        extra_labels=extra,
    )
    t = res.metrics["test"]
    console.print(
        f"test SE MAE {t['surface_energy']['mae']:.4f} eV/Å², WF MAE {t['work_function']['mae']:.3f} eV "
        f"(best epoch {res.best_epoch}); checkpoint {card}"
    )


def ship(
    recipe: Annotated[
        str,
        typer.Option(
            help="Training recipe: mg, mg+desc, joint, joint+desc, joint+desc+mp or "
            "joint+desc+mp+G (compared by studies/generalise.py); empty: the packaged model's "
            "(the recipe its card records)."
        ),
    ] = "",
    epochs: Epochs = DEFAULT_TRAIN.epochs,
    lr_drop_epoch: LrDropEpoch = DEFAULT_TRAIN.lr_drop_epoch,
    seed: Seed = DEFAULT_TRAIN.seed,
    threads: Threads = 0,
    device: Device = "cpu",
    graphs: Graphs = "",
    out: Annotated[
        str,
        typer.Option(
            help="Checkpoint stem: writes OUT.safetensors and OUT.json (default: the packaged model, "
            "which needs --force)."
        ),
    ] = "",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the packaged model (no --out, or --out naming it).")
    ] = False,
    validation: Annotated[
        str,
        typer.Option(
            help="Model selection on a random 10 % of slabs (random; the shipped "
            "model) or on whole held-out Mg–X systems (systems)."
        ),
    ] = "random",
    results_dir: Annotated[
        str,
        typer.Option(
            help="Result JSON of the generalisation study (studies/generalise.py "
            "--results-dir): the recipe's grouped/random test metrics found "
            "there are copied into the card as its evaluation. Empty (the "
            "default): no evaluation copied."
        ),
    ] = "",
    runs_dir: Annotated[
        str, typer.Option(help="Epoch checkpoints, so an interrupted run resumes.")
    ] = "runs/ship",
    readout: Annotated[
        str,
        typer.Option(
            help="surface (thickness-invariant) or paper (the paper's mean pooling); empty: "
            "the shipped model's (recipes.SHIPPED_READOUT)."
        ),
    ] = "",
    extra_labels: ExtraLabelsOption = None,
) -> None:
    """Train the shipped model on all shipped slab data (by default as the packaged model was
    trained) and save it; replacing the packaged model needs --force."""
    from pathlib import Path

    from semcgcnn.model.checkpoint import SHIPPED_MODEL, read_card, resolve_checkpoint
    from semcgcnn.model.training.recipes import RECIPES, SHIPPED_READOUT, recorded_evaluation, train_shipped

    recipe = recipe or read_card(SHIPPED_MODEL.with_suffix(".json"), "checkpoint")["recipe"]
    readout = readout or SHIPPED_READOUT
    if recipe not in RECIPES:
        raise fail(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    if results_dir and not Path(results_dir).is_dir():
        raise fail(f"--results-dir {results_dir} is not a folder")
    if validation not in ("systems", "random"):
        raise fail(f"--validation must be systems or random, not {validation!r}")
    check_readout(readout)
    target = Path(out) if out else SHIPPED_MODEL
    if not force and not target.is_dir() and resolve_checkpoint(target).resolve() == SHIPPED_MODEL.resolve():
        raise UserError(
            f"refusing to overwrite the packaged model {SHIPPED_MODEL} (recipe {recipe}, {epochs} epochs, "
            f"lr drop at {lr_drop_epoch}, {readout} readout): pass --out STEM to write a new checkpoint, "
            "or --force to replace it"
        )
    extra = _extra_label_paths(extra_labels)
    cfg, bundle = training_setup(
        graphs, epochs=epochs, lr_drop_epoch=lr_drop_epoch, seed=seed, threads=threads, device=device
    )
    evaluation = recorded_evaluation(Path(results_dir), recipe, readout) if results_dir else {}
    card = train_shipped(
        recipe,
        cfg,
        target,
        Path(runs_dir),
        evaluation,
        bundle=bundle,
        validation="all-systems" if validation == "systems" else "all",
        readout=readout,
        extra_labels=extra,
    )
    console.print(f"shipped model written: {card}")


def finetune(
    extra_labels: Annotated[
        list[str],
        typer.Option(
            "--extra-labels",
            help="labels.parquet from `semcgcnn label` (repeatable): the new labels to fine-tune on "
            "(rows without a finite surface energy are excluded and reported; the work function "
            "is masked where unavailable).",
        ),
    ],
    out: Annotated[
        str,
        typer.Option(help="Checkpoint stem of the fine-tuned model: writes OUT.safetensors and OUT.json."),
    ],
    from_: Annotated[
        str,
        typer.Option(
            "--from",
            help="Checkpoint to start from (stem, card or folder), or an "
            "ensemble card (every member is fine-tuned); empty: the "
            "shipped single model.",
        ),
    ] = "",
    epochs: Annotated[int, typer.Option(help="Passes over the new labels.")] = FINETUNE_DEFAULTS.epochs,
    lr: Annotated[float, typer.Option(help="Adam learning rate (constant).")] = FINETUNE_DEFAULTS.lr,
    batch_size: Annotated[int, typer.Option(help="Crystals per batch.")] = FINETUNE_DEFAULTS.batch_size,
    freeze_convolutions: Annotated[
        bool,
        typer.Option(
            "--freeze-convolutions", help="Train only the heads (embedding and convolutions fixed)."
        ),
    ] = FINETUNE_DEFAULTS.freeze_convolutions,
    replay_fraction: Annotated[
        float,
        typer.Option(
            help="Share of each epoch's rows drawn afresh from the checkpoint's own training data so it "
            "does not forget (0: none; 0.5: as many as new labels)."
        ),
    ] = FINETUNE_DEFAULTS.replay_fraction,
    seed: Seed = FINETUNE_DEFAULTS.seed,
    threads: Threads = FINETUNE_DEFAULTS.threads,
) -> None:
    """Fine-tune a checkpoint (the shipped model by default) on new labels and save a new checkpoint
    whose card names its parent model and the labels."""
    from pathlib import Path

    from semcgcnn.model.checkpoint import SHIPPED_MODEL
    from semcgcnn.model.training.finetune import finetune as run_finetune

    paths = _extra_label_paths(extra_labels)
    cfg = FinetuneConfig(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        freeze_convolutions=freeze_convolutions,
        replay_fraction=replay_fraction,
        seed=seed,
        threads=threads,
    )
    from semcgcnn.model.ensemble import is_ensemble_card
    from semcgcnn.model.training.ensemble import finetune_ensemble

    if from_ and is_ensemble_card(Path(from_)):  # every member, one new ensemble card
        card = finetune_ensemble(Path(from_), paths, cfg, Path(out))
        console.print(f"fine-tuned every member of {from_}; ensemble card {card}")
        return
    res = run_finetune(Path(from_) if from_ else SHIPPED_MODEL, paths, cfg, out=Path(out))
    console.print(
        f"fine-tuned {res.parent_model_id} on {res.n_labels} labels in {res.wall_s:.1f} s; "
        f"checkpoint {res.card_path}"
    )
