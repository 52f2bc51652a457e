"""The ``semcgcnn`` command line."""

from __future__ import annotations

import logging
import sys
import time
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help="SEM-CGCNN surface-property screening.")
console = Console()
log = logging.getLogger("semcgcnn")

# options shared by the training commands (defaults stay per command)
Epochs = Annotated[int, typer.Option(help="Epochs per model (paper: 150).")]
LrDropEpoch = Annotated[int, typer.Option(help="Epoch of the ×0.1 learning-rate drop (paper: 100).")]
Seed = Annotated[int, typer.Option(help="Split and initialisation seed.")]
Threads = Annotated[int, typer.Option(help="torch threads (0: all cores); one per process when several run.")]
Device = Annotated[str, typer.Option(help="torch device of the training loop: cpu, or cuda on a GPU machine.")]
Graphs = Annotated[str, typer.Option(help="Training bundle from `semcgcnn bundle` instead of the datasets "
                                          "(for a machine without pymatgen or the graph cache).")]


def _training_setup(graphs: str, **train_kw):
    """(TrainConfig, training-bundle path or None) of a training command, checking the device
    and the bundle first."""
    from semcgcnn.model.config import TrainConfig

    _check_device(train_kw.get("device", "cpu"))
    return TrainConfig(**train_kw), _bundle_path(graphs)


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise fail(f"unknown device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise fail(f"device {device!r} asked for, but torch sees no CUDA GPU here")


def _csv(text: str) -> list[str]:
    """Items of a comma-separated option, blanks dropped."""
    return [x.strip() for x in text.split(",") if x.strip()]


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )


def fail(msg: str, code: int = 2) -> typer.Exit:
    """Print a one-line error (no traceback) and return the exit to raise."""
    Console(stderr=True).print(f"[bold red]error:[/] {msg}")
    return typer.Exit(code)


@app.command()
def datasets() -> None:
    """List the shipped datasets with row counts, targets and units."""
    from semcgcnn.datasets import DATASETS, TARGETS, labels

    table = Table(title="Shipped datasets (datasets/*/PROVENANCE.md)")
    for col in ("name", "kind", "rows", "systems", "targets (units)", "source"):
        table.add_column(col)
    for spec in DATASETS.values():
        df = labels(spec.name)
        targets = ", ".join(f"{t} ({TARGETS[t].unit})" for t in spec.targets)
        table.add_row(spec.name, spec.kind, str(len(df)), str(df["chemsys"].nunique()), targets, spec.citation)
    console.print(table)


@app.command()
def featurize(
    name: Annotated[str, typer.Argument(help="Shipped dataset name (see `semcgcnn datasets`).")] = "mg_binary_slabs",
    surface_depth: Annotated[float, typer.Option(help="Surface-flag depth, Å.")] = 2.0,
    radius: Annotated[float, typer.Option(help="Neighbour cutoff, Å.")] = 12.0,
    max_neighbors: Annotated[int, typer.Option(help="Neighbours per atom.")] = 12,
    workers: Annotated[int, typer.Option(help="Processes (0: all cores).")] = 0,
) -> None:
    """Featurize a shipped slab dataset into crystal graphs (cached) and print a summary."""
    from semcgcnn.datasets import DATASETS, get_spec, labels, load_arrays
    from semcgcnn.model import GraphConfig
    from semcgcnn.model.graphs import dataset_graphs
    from semcgcnn.progress import progress_bar

    if name not in DATASETS:
        raise fail(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    if get_spec(name).kind != "slab":
        raise fail(f"{name} holds bulk structures; the surface featurizer needs slabs")
    if surface_depth < 0 or radius <= 0 or max_neighbors < 1:
        raise fail("surface depth must be ≥ 0 Å, radius > 0 Å and max-neighbors ≥ 1")
    config = GraphConfig(radius=radius, max_neighbors=max_neighbors, surface_depth=surface_depth)
    t0 = time.perf_counter()
    with progress_bar(f"parsing {name}", len(labels(name))) as step:
        df, _ = load_arrays(name, workers=workers or None, progress=step)
    t1 = time.perf_counter()
    with progress_bar(f"featurizing {name}", len(df)) as step:
        gs, cached = dataset_graphs(name, config, workers=workers or None, progress=step)
    t2 = time.perf_counter()
    _print_graph_summary(name, df, gs, cached, t1 - t0, t2 - t1)


def _print_graph_summary(name, df, gs, cached: bool, t_load: float, t_feat: float) -> None:
    n_atoms = gs.n_atoms
    padded = (gs.nbr_dist > gs.config.radius).any(axis=1)
    z = gs.atomic_numbers
    table = Table(title=f"{name}: crystal graphs ({'from cache' if cached else 'featurized now'})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("slabs", f"{len(gs)}"),
        ("chemical systems", f"{df['chemsys'].nunique()}"),
        ("atoms (total / median / max per slab)", f"{n_atoms.sum()} / {int(np.median(n_atoms))} / {n_atoms.max()}"),
        ("elements", f"{len(np.unique(z))}"),
        ("surface atoms (depth %.1f Å)" % gs.config.surface_depth, f"{gs.surface.mean():.1%}"),
        ("atoms with < %d neighbours in %.0f Å" % (gs.config.max_neighbors, gs.config.radius), f"{padded.sum()}"),
        ("nearest-neighbour distance (min / median, Å)", f"{gs.nbr_dist[:, 0].min():.2f} / {np.median(gs.nbr_dist[:, 0]):.2f}"),
        ("edge features per edge (Gaussians)", f"{gs.config.n_gaussians}"),
        ("parse/load time (s)", f"{t_load:.2f}"),
        ("featurize/load time (s)", f"{t_feat:.2f}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


@app.command()
def train(
    out: Annotated[str, typer.Option(help="Checkpoint path stem: writes OUT.safetensors and OUT.json.")],
    variant: Annotated[str, typer.Option(help="sem, mtl-surface, mtl-gradnorm or mtl.")] = "sem",
    split: Annotated[str, typer.Option(help="'random' (paper) or 'grouped' (whole chemical systems held out).")] = "random",
    seed: Seed = 0,
    epochs: Epochs = 150,
    lr_drop_epoch: LrDropEpoch = 100,
    batch_size: Annotated[int, typer.Option(help="Crystals per batch.")] = 64,
    surface_depth: Annotated[float, typer.Option(help="Surface-flag depth, Å.")] = 2.0,
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


@app.command()
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

    split_list = _csv(splits)
    variant_list = _csv(variants)
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


@app.command()
def predict(
    paths: Annotated[list[str], typer.Argument(help="Slab files (CIF, POSCAR/.vasp, pymatgen JSON) or directories of them.")],
    out: Annotated[str, typer.Option(help="Predictions Parquet; errors go to OUT with .errors.parquet.")] = "predictions.parquet",
    model: Annotated[str, typer.Option(help="Checkpoint (.json/.safetensors stem); default: the shipped model.")] = "",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the convolutions: ≈1.4× faster on "
                                                              "thousands of slabs, after a few seconds' compile.")] = False,
) -> None:
    """Predict surface energy and work function of slabs; bad files become error rows."""
    from pathlib import Path

    from semcgcnn.model.checkpoint import CheckpointError
    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.model.predict_files import predict_files, write_outputs

    try:
        predictor = load_pretrained(model or None, compile=compile)
    except CheckpointError as e:
        raise fail(str(e)) from None
    preds, errors = predict_files([Path(p) for p in paths], predictor)
    for row in errors.itertuples():
        console.print(f"[yellow]skipped[/] {row.path}: {row.reason}")
    out_path, err_path = write_outputs(preds, errors, Path(out), predictor)
    flagged = int(preds["out_of_domain"].sum()) if len(preds) else 0
    console.print(f"{len(preds)} slabs predicted ({flagged} outside the training domain) → {out_path}; "
                  f"{len(errors)} errors → {err_path}")
    if len(preds) == 0:
        raise typer.Exit(1)


@app.command()
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
    surface_depth: Annotated[float, typer.Option(help="Å from either surface flagged as surface (paper: 2).")] = 2.0,
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

    recipe_list = _csv(recipes)
    split_list = _csv(splits)
    bad = [r for r in recipe_list if r not in RECIPES] + [
        s for s in split_list if s not in ("grouped", "random", "grouped-randval")]
    if bad or epochs < 1:
        raise fail(f"unknown recipe/split {bad} (recipes: {', '.join(RECIPES)}) or epochs < 1")
    if batch_size < 2 or lr <= 0 or hidden < 1 or surface_depth < 0:
        raise fail("need --batch-size ≥ 2, --lr > 0, --hidden ≥ 1 and --surface-depth ≥ 0")
    cfg, bundle = _training_setup(graphs, epochs=epochs, lr_drop_epoch=lr_drop_epoch, seed=seed, threads=threads,
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


@app.command()
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
    cfg, bundle = _training_setup(graphs, epochs=epochs, lr_drop_epoch=lr_drop_epoch, seed=seed, threads=threads,
                                  device=device)
    card = train_shipped(recipe, cfg, Path(out) if out else SHIPPED_MODEL, Path(runs_dir), evaluation, bundle=bundle,
                         validation="all-systems" if validation == "systems" else "all")
    console.print(f"shipped model written: {card}")


def _bundle_path(graphs: str):
    from pathlib import Path

    if not graphs:
        return None
    if not Path(graphs).is_file():
        raise fail(f"training bundle {graphs} not found (write one with `semcgcnn bundle {graphs}`)")
    return Path(graphs)


@app.command()
def bundle(
    out: Annotated[str, typer.Argument(help="Output .npz (≈ 8 MB).")],
    surface_depth: Annotated[float, typer.Option(help="Å from either surface flagged as surface (paper: 2).")] = 2.0,
) -> None:
    """Save all shipped slab graphs, targets and element descriptors as one compressed training
    bundle, to train (`generalise`/`ship --graphs`) where pymatgen or the graph cache is absent."""
    from pathlib import Path

    from semcgcnn.model.config import GraphConfig
    from semcgcnn.model.training_data import save_training_bundle

    path = save_training_bundle(Path(out), GraphConfig(surface_depth=surface_depth))
    console.print(f"training bundle: {path} ({path.stat().st_size / 1e6:.1f} MB)")


app.command(name="screen")(__import__("semcgcnn.pipeline.cli", fromlist=["screen"]).screen)  # pipeline/cli.py


def run() -> None:  # pragma: no cover - console entry for `python -m semcgcnn`
    sys.exit(app())
