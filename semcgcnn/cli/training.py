"""Training commands: ``train`` (one Table-1 variant on the Mg slabs), ``table1``, ``generalise``, ``ship``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from .common import (DEFAULT_GRAPH, Device, Epochs, Graphs, LrDropEpoch, Seed, SurfaceDepth, Threads, console, csv_items,
                     fail, training_setup)


log = logging.getLogger("semcgcnn")


def train(
    out: Annotated[str, typer.Option(help="Checkpoint path stem: writes OUT.safetensors and OUT.json.")],
    variant: Annotated[str, typer.Option(help="sem, mtl-surface, mtl-gradnorm or mtl.")] = "sem",
    split: Annotated[str, typer.Option(help="'random' (paper) or 'grouped' (whole chemical systems held out).")] = "random",
    seed: Seed = 0,
    epochs: Epochs = 150,
    lr_drop_epoch: LrDropEpoch = 100,
    batch_size: Annotated[int, typer.Option(help="Crystals per batch.")] = 64,
    surface_depth: SurfaceDepth = DEFAULT_GRAPH.surface_depth,
    run_dir: Annotated[str, typer.Option(help="Epoch checkpoints; an interrupted run resumes from here.")] = "",
) -> None:
    """Train one multi-task model on the shipped Mg slabs and save a safe checkpoint."""
    from pathlib import Path

    from semcgcnn.datasets import DATASETS
    from semcgcnn.model import GraphConfig
    from semcgcnn.model.checkpoint import save_checkpoint
    from semcgcnn.model.config import ModelConfig, TrainConfig
    from semcgcnn.model.splits import make_split
    from semcgcnn.model.table1 import TASKS, VARIANTS, load_mg_tensors
    from semcgcnn.model.train import train as train_model
    from semcgcnn.paths import sha256_files

    if variant not in VARIANTS or variant == "stl":
        raise fail(f"unknown multi-task variant {variant!r}; choose sem, mtl-surface, mtl-gradnorm or mtl")
    if split not in ("random", "grouped") or epochs < 1 or surface_depth < 0:
        raise fail("split must be random or grouped, epochs ≥ 1 and surface depth ≥ 0 Å")
    _, surface, weighting = VARIANTS[variant]
    gcfg = GraphConfig(surface_depth=surface_depth)
    tcfg = TrainConfig(epochs=epochs, lr_drop_epoch=lr_drop_epoch, batch_size=batch_size, weighting=weighting,
                       split=split, seed=seed)
    data, groups = load_mg_tensors(gcfg)
    idx = make_split(split, len(data), groups, seed)
    res = train_model(data, idx, ModelConfig(tasks=TASKS, surface_flag=surface), tcfg, run_dir=Path(run_dir) if run_dir else None)
    spec = DATASETS["mg_binary_slabs"]
    card = save_checkpoint(
        Path(out), res.model, gcfg, res.normalizer, tcfg,
        training_data={"datasets": ["mg_binary_slabs"], "sha256": sha256_files(sorted(spec.path.glob("*.*"))),
                       "n_train_val_test": [len(i) for i in idx]},
        metrics=res.metrics, extra={"best_epoch": res.best_epoch, "history": res.history},
    )
    t = res.metrics["test"]
    console.print(f"test SE MAE {t['surface_energy']['mae']:.4f} eV/Å², WF MAE {t['work_function']['mae']:.3f} eV "
                  f"(best epoch {res.best_epoch}); checkpoint {card}")


def table1(
    seeds: Annotated[int, typer.Option(help="Seeds per variant (0..seeds-1).")] = 1,
    splits: Annotated[str, typer.Option(help="Comma list of 'grouped' and/or 'random'.")] = "grouped,random",
    variants: Annotated[str, typer.Option(help="Comma list of stl, mtl, mtl-gradnorm, mtl-surface, sem.")] = "stl,mtl,mtl-gradnorm,mtl-surface,sem",
    epochs: Epochs = 150,
    lr_drop_epoch: LrDropEpoch = 100,
    batch_size: Annotated[int, typer.Option(help="Crystals per batch.")] = 64,
    results_dir: Annotated[str, typer.Option(help="Per-cell result JSON (committed; finished cells are skipped).")] = "reports/table1_runs",
    runs_dir: Annotated[str, typer.Option(help="Epoch checkpoints, so an interrupted cell resumes.")] = "runs/table1",
    report: Annotated[str, typer.Option(help="Markdown report; a .json twin is written beside it.")] = "reports/table1.md",
    device: Annotated[str, typer.Option(help="Where it ran, for the report.")] = "CPU, 2 cores",
    threads: Threads = 0,
    notes: Annotated[str, typer.Option(help="Markdown file appended to the report (what was tried, caveats).")] = "",
) -> None:
    """Reproduce the paper's Table 1 on the shipped Mg slabs; finished cells are skipped."""
    from pathlib import Path

    from semcgcnn.model.config import TrainConfig
    from semcgcnn.model.table1 import VARIANTS, load_mg_tensors, run_variant, summarize, write_report

    split_list = csv_items(splits)
    variant_list = csv_items(variants)
    bad = [s for s in split_list if s not in ("grouped", "random")] + [v for v in variant_list if v not in VARIANTS]
    if bad or seeds < 1 or epochs < 1:
        raise fail(f"unknown split/variant {bad} or non-positive seeds/epochs")
    cfg = TrainConfig(epochs=epochs, lr_drop_epoch=lr_drop_epoch, batch_size=batch_size, threads=threads)
    import json

    data, groups = load_mg_tensors()
    for split in split_list:
        for variant in variant_list:
            for seed in range(seeds):
                log.info("table1: %s / %s / seed %d", split, variant, seed)
                run_variant(data, groups, variant, split, seed, cfg, Path(results_dir), Path(runs_dir))
                results = [json.loads(p.read_text()) for p in sorted(Path(results_dir).glob(f"{epochs}ep/*/*/seed*.json"))]
                note_text = Path(notes).read_text() if notes and Path(notes).exists() else ""
                write_report(summarize(results), cfg, Path(report), device, note_text)  # refreshed after every cell
    console.print(Path(report).read_text())


def generalise(
    recipes: Annotated[str, typer.Option(help="Comma list of mg, mg+desc, joint, joint+desc, joint+desc+mp, joint+desc+mp+G.")] = "mg,mg+desc,joint,joint+desc",
    splits: Annotated[str, typer.Option(help="Comma list of grouped (whole Mg–X systems held out), random, and grouped-randval "
                                              "(grouped test systems, random validation rows: the shipped model's selection).")] = "grouped",
    epochs: Epochs = 30,
    lr_drop_epoch: LrDropEpoch = 22,
    seed: Seed = 0,
    threads: Threads = 0,
    device: Device = "cpu",
    graphs: Graphs = "",
    batch_size: Annotated[int, typer.Option(help="Slabs per training step (paper: 64).")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate (paper: 1e-3).")] = 1e-3,
    hidden: Annotated[int, typer.Option(help="Width of the heads' hidden layers (CGCNN: 128).")] = 128,
    surface_depth: SurfaceDepth = DEFAULT_GRAPH.surface_depth,
    surface_pool: Annotated[bool, typer.Option(help="Heads also read the mean over surface atoms (not in the paper).")] = False,
    results_dir: Annotated[str, typer.Option(help="Per-experiment result JSON (committed; done ones are skipped).")] = "reports/shipped_runs",
    runs_dir: Annotated[str, typer.Option(help="Epoch checkpoints, so an interrupted run resumes.")] = "runs/generalise",
    report: Annotated[str, typer.Option(help="Markdown report of all results so far ('' to skip).")] = "reports/shipped_model.md",
    table1_results: Annotated[str, typer.Option(help="Table 1 cells (its `sem` cells are the `mg` recipe).")] = "reports/table1_runs",
) -> None:
    """Measure each generalisation choice on the grouped split (the figure screening needs)."""
    from pathlib import Path

    from semcgcnn.model.config import GraphConfig
    from semcgcnn.model.generalise import RECIPES, run_experiment

    recipe_list = csv_items(recipes)
    split_list = csv_items(splits)
    bad = [r for r in recipe_list if r not in RECIPES] + [
        s for s in split_list if s not in ("grouped", "random", "grouped-randval")]
    if bad or epochs < 1:
        raise fail(f"unknown recipe/split {bad} (recipes: {', '.join(RECIPES)}) or epochs < 1")
    if batch_size < 2 or lr <= 0 or hidden < 1 or surface_depth < 0:
        raise fail("need --batch-size ≥ 2, --lr > 0, --hidden ≥ 1 and --surface-depth ≥ 0")
    cfg, bundle = training_setup(graphs, epochs=epochs, lr_drop_epoch=lr_drop_epoch, seed=seed, threads=threads,
                                  device=device, batch_size=batch_size, lr=lr)
    gcfg = GraphConfig(surface_depth=surface_depth)
    for split in split_list:
        for recipe in recipe_list:
            try:
                r = run_experiment(recipe, split, cfg, Path(results_dir), Path(runs_dir), graph_config=gcfg,
                                   bundle=bundle, model_overrides={"h_fea_len": hidden, "surface_pool": surface_pool})
            except ValueError as e:  # e.g. a bundle built for another surface depth
                raise fail(str(e)) from None
            console.print(f"{recipe:>11} / {split}: SE MAE {r['test']['surface_energy']['mae']:.4f} eV/Å², "
                          f"WF MAE {r['test']['work_function']['mae']:.3f} eV")
    if report:
        from semcgcnn.model.generalise import SHIPPED_MODEL
        from semcgcnn.model.shipped_report import write_shipped_report

        path = write_shipped_report(Path(results_dir), Path(table1_results), SHIPPED_MODEL.with_suffix(".json"),
                                    Path(report))
        console.print(f"report: {path}")


def ship(
    recipe: Annotated[str, typer.Option(help="Training recipe (see `semcgcnn generalise`).")] = "joint+desc",
    epochs: Epochs = 30,
    lr_drop_epoch: LrDropEpoch = 22,
    seed: Seed = 0,
    threads: Threads = 0,
    device: Device = "cpu",
    graphs: Graphs = "",
    out: Annotated[str, typer.Option(help="Checkpoint stem (default: the shipped model in the package).")] = "",
    validation: Annotated[str, typer.Option(help="Model selection on a random 10 % of slabs (random; the shipped "
                                                 "model) or on whole held-out Mg–X systems (systems).")] = "random",
    results_dir: Annotated[str, typer.Option(help="Where `generalise` wrote its results (copied into the card).")] = "reports/shipped_runs",
    runs_dir: Annotated[str, typer.Option(help="Epoch checkpoints, so an interrupted run resumes.")] = "runs/ship",
) -> None:
    """Train the shipped model on all shipped slab data with ``recipe`` and save it."""
    import json
    from pathlib import Path

    from semcgcnn.model.generalise import RECIPES, SHIPPED_MODEL, train_shipped

    if recipe not in RECIPES:
        raise fail(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    evaluation = {}
    for p in sorted(Path(results_dir).glob(f"*ep/*/{recipe}-seed*.json")):
        r = json.loads(p.read_text())
        evaluation[f"{r['split']}_{r['train_config']['epochs']}ep_seed{r['seed']}"] = r["test"]
    if validation not in ("systems", "random"):
        raise fail(f"--validation must be systems or random, not {validation!r}")
    cfg, bundle = training_setup(graphs, epochs=epochs, lr_drop_epoch=lr_drop_epoch, seed=seed, threads=threads,
                                  device=device)
    card = train_shipped(recipe, cfg, Path(out) if out else SHIPPED_MODEL, Path(runs_dir), evaluation, bundle=bundle,
                         validation="all-systems" if validation == "systems" else "all")
    console.print(f"shipped model written: {card}")
