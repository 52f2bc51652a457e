"""``semcgcnn select``: the slabs of a screen whose DFT labels would help the model most."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from semcgcnn.pipeline.labelling.gpaw import COST_LIMIT_HOURS

from .common import console


def select(
    screen_dir: Annotated[
        Path, typer.Argument(help="A finished `semcgcnn screen` folder (screened with an ensemble).")
    ],
    budget: Annotated[int, typer.Option(help="Number of slabs to pick.")],
    out: Annotated[
        Path, typer.Option(help="Folder: picks.parquet, bulk/ID.json, label.sh (runs semcgcnn label).")
    ] = Path("picks"),
    strategy: Annotated[
        str,
        typer.Option(
            help="kcenter (default: in each compound the slab farthest from the training data and "
            "from its earlier picks), max_sigma (the most uncertain) or random."
        ),
    ] = "kcenter",
    seed: Annotated[int, typer.Option(help="Seed of --strategy random.")] = 0,
    preset: Annotated[
        str, typer.Option(help="GPAW preset label.sh uses (fast or default), and of --max-hours.")
    ] = "default",
    max_hours: Annotated[
        float,
        typer.Option(
            help="Leave out facets whose labels (bulk and every termination) are estimated to take "
            "longer with --preset on this machine (0: no bound)."
        ),
    ] = COST_LIMIT_HOURS,
) -> None:
    """Pick slabs to label, one per compound per round (most uncertain compound first), new facets first."""
    from semcgcnn.paths import check_output_dir
    from semcgcnn.pipeline.analysis.label_cost import cost_column
    from semcgcnn.pipeline.analysis.selection import (
        BUDGET_RULE,
        SelectionError,
        check_strategy,
        select_from_screen,
        write_picks,
    )
    from semcgcnn.pipeline.labelling.gpaw import COST_LAW, format_seconds
    from semcgcnn.pipeline.labelling.gpaw import preset as preset_settings
    from semcgcnn.pipeline.screen import results

    if budget < 1:  # the arguments and the screen are checked before OUT is created
        raise SelectionError(BUDGET_RULE)
    check_strategy(strategy)
    preset_settings(preset)
    if max_hours < 0:
        raise SelectionError("--max-hours must be ≥ 0 (0: no bound)")
    results.read_table(screen_dir, "predictions", ["slab_id"])
    check_output_dir(out)
    picks, manifest = select_from_screen(screen_dir, budget, strategy, seed, preset, max_hours or None)
    bulks = results.bulk_structures(manifest, list(picks["compound_id"].unique()))
    paths = write_picks(picks, bulks, out, preset)
    for r in picks.itertuples():
        console.print(
            f"{r.pick:>3}. {r.slab_id} {r.miller_index}: γ {r.surface_energy_eV_per_A2:.4f} ± "
            f"{r.surface_energy_eV_per_A2_std:.4f} eV/Å², Φ {r.work_function_eV:.2f} ± "
            f"{r.work_function_eV_std:.2f} eV; labels {r.n_slabs} slab(s) ≤ {r.max_atoms} atoms, "
            f"≈ {format_seconds(r.estimated_gpaw_fast_s)} fast / "
            f"{format_seconds(r.estimated_gpaw_default_s)} default"
        )
    total = {p: picks[cost_column(p)].sum() for p in ("fast", "default")}
    console.print(
        f"{len(picks)} slabs of {picks['compound_id'].nunique()} compounds → {paths['picks']}; "
        f"label them with: bash {paths['label_script']} (GPAW estimate on this machine, "
        f"{COST_LAW.machine}: {format_seconds(total['fast'])} fast, "
        f"{format_seconds(total['default'])} default)"
    )
    if manifest["n_above_cost"]:
        console.print(
            f"{manifest['n_above_cost']} slabs left out: their facet is estimated above --max-hours "
            f"{max_hours:g} with GPAW {preset} (--max-hours 0 lifts the bound)"
        )
