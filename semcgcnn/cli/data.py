"""Data commands: ``datasets``, ``featurize``, ``bundle``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.table import Table

from .common import DEFAULT_GRAPH, SurfaceDepth, console, fail

if TYPE_CHECKING:
    import pandas as pd

    from semcgcnn.model.graphs import GraphSet


def datasets() -> None:
    """List the shipped datasets with row counts, targets and units."""
    from semcgcnn.datasets import DATASETS, TARGETS, labels

    table = Table(title="Shipped datasets (datasets/*/PROVENANCE.md)")
    for col in ("name", "kind", "rows", "systems", "targets (units)", "source"):
        table.add_column(col)
    for spec in DATASETS.values():
        df = labels(spec.name)
        targets = ", ".join(f"{t} ({TARGETS[t].unit})" for t in spec.targets)
        table.add_row(
            spec.name, spec.kind, str(len(df)), str(df["chemsys"].nunique()), targets, spec.citation
        )
    console.print(table)


def featurize(
    name: Annotated[
        str, typer.Argument(help="Shipped dataset name (see `semcgcnn datasets`).")
    ] = "mg_binary_slabs",
    surface_depth: SurfaceDepth = DEFAULT_GRAPH.surface_depth,
    radius: Annotated[float, typer.Option(help="Neighbour cutoff, Å.")] = DEFAULT_GRAPH.radius,
    max_neighbors: Annotated[int, typer.Option(help="Neighbours per atom.")] = DEFAULT_GRAPH.max_neighbors,
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


def _print_graph_summary(
    name: str, df: pd.DataFrame, gs: GraphSet, cached: bool, t_load: float, t_feat: float
) -> None:
    n_atoms = gs.n_atoms
    n_edges = (gs.nbr_weight > 0).sum(axis=1)
    padded = n_edges < gs.config.max_neighbors
    z = gs.atomic_numbers
    table = Table(title=f"{name}: crystal graphs ({'from cache' if cached else 'featurized now'})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("slabs", f"{len(gs)}"),
        ("chemical systems", f"{df['chemsys'].nunique()}"),
        (
            "atoms (total / median / max per slab)",
            f"{n_atoms.sum()} / {int(np.median(n_atoms))} / {n_atoms.max()}",
        ),
        ("elements", f"{len(np.unique(z))}"),
        (f"surface atoms (depth {gs.config.surface_depth:.1f} Å)", f"{gs.surface.mean():.1%}"),
        (
            f"atoms with < {gs.config.max_neighbors:d} neighbours in {gs.config.radius:.0f} Å",
            f"{padded.sum()}",
        ),
        (
            f"atoms with a shell tied at the {gs.config.max_neighbors:d}th neighbour",
            f"{(n_edges > gs.config.max_neighbors).mean():.1%} (up to {n_edges.max()} edges)",
        ),
        (
            "nearest-neighbour distance (min / median, Å)",
            f"{gs.nbr_dist[:, 0].min():.2f} / {np.median(gs.nbr_dist[:, 0]):.2f}",
        ),
        ("edge features per edge (Gaussians)", f"{gs.config.n_gaussians}"),
        ("parse/load time (s)", f"{t_load:.2f}"),
        ("featurize/load time (s)", f"{t_feat:.2f}"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def bundle(
    out: Annotated[str, typer.Argument(help="Output .npz (≈ 8 MB).")],
    surface_depth: SurfaceDepth = DEFAULT_GRAPH.surface_depth,
) -> None:
    """Save all shipped slab graphs, targets and element descriptors as one compressed training
    bundle, to train (`ship --graphs`, `studies/generalise.py --graphs`) where pymatgen or the graph cache
    is absent."""
    from pathlib import Path

    from semcgcnn.model.config import GraphConfig
    from semcgcnn.model.training.data import save_training_bundle

    path = save_training_bundle(Path(out), GraphConfig(surface_depth=surface_depth))
    console.print(f"training bundle: {path} ({path.stat().st_size / 1e6:.1f} MB)")
