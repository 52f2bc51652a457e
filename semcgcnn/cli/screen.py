"""``semcgcnn screen``: the screening pipeline on the command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from semcgcnn.pipeline.screen.config import BATCH_SIZE, ScreenConfig

from .common import csv_items, fail

if TYPE_CHECKING:
    import pandas as pd

    from semcgcnn.pipeline.screen.run import ScreenSummary

log = logging.getLogger("semcgcnn.screen")
DEFAULT = ScreenConfig()
ENGINES = ("plain", "jobflow")


def screen(
    out: Annotated[Path, typer.Option(help="Output folder: Parquet tables, parts for --resume.")],
    source: Annotated[
        str, typer.Option(help="'bundled' (210 shipped MP Mg–X binaries) or 'mp' (needs MP_API_KEY).")
    ] = "bundled",
    structures: Annotated[
        Path | None, typer.Option(help="Folder of your own bulk CIF/POSCAR/.vasp/.json files.")
    ] = None,
    elements: Annotated[
        str, typer.Option(help="Comma list: keep compounds whose partner elements are all in it.")
    ] = "",
    max_atoms: Annotated[int | None, typer.Option(help="Skip bulk cells with more sites.")] = None,
    limit: Annotated[int | None, typer.Option(help="Screen only the first N candidates.")] = None,
    e_above_hull: Annotated[
        float, typer.Option(help="--source mp: energy above hull bound, eV/atom.")
    ] = DEFAULT.e_above_hull,
    max_elements: Annotated[
        int, typer.Option(help="--source mp: most elements per compound (3: ternaries too).")
    ] = DEFAULT.max_elements,
    workers: Annotated[int, typer.Option(help="Slab processes (0: all cores).")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted screen in OUT.")] = False,
    model: Annotated[
        Path | None,
        typer.Option(help="Checkpoint (.json/.safetensors stem, or its folder); default: shipped model."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Compounds per committed batch.")] = BATCH_SIZE,
    min_slab: Annotated[
        float, typer.Option(help="Minimum slab thickness, Å.")
    ] = DEFAULT.slab.min_slab_size_A,
    min_vacuum: Annotated[
        float, typer.Option(help="Minimum vacuum thickness, Å.")
    ] = DEFAULT.slab.min_vacuum_size_A,
    max_index: Annotated[int, typer.Option(help="Largest Miller index.")] = DEFAULT.slab.max_index,
    mlip_prior: Annotated[
        bool,
        typer.Option(
            "--mlip-prior",
            help="Blend each surface energy with the SevenNet "
            "7net-0 prior (reports/mlip_prior.md: grouped SE −2.7 %; ≈ 20× slower).",
        ),
    ] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="'plain' (process pool) or 'jobflow' (the ScreeningMaker Flow, "
            "run_locally; job store: jobflow's configured JOB_STORE, "
            "else OUT/jobflow)."
        ),
    ] = ENGINES[0],
) -> None:
    """Screen Mg compounds: symmetric slabs → predicted γ and Φ → Wulff-weighted values (Parquet)."""
    from semcgcnn.interrupts import exit_status, sigterm_raises
    from semcgcnn.paths import disk_full_error, is_disk_full
    from semcgcnn.pipeline.screen.run import run_screen
    from semcgcnn.progress import Bars

    if structures is not None and source != "bundled":
        raise fail("give either --structures or --source, not both")
    if (
        (max_atoms is not None and max_atoms < 1)
        or (limit is not None and limit < 1)
        or workers < 0
        or batch_size < 1
        or min_slab <= 0
        or min_vacuum <= 0
        or max_index < 1
        or e_above_hull < 0
        or max_elements < 2
    ):
        raise fail(
            "--max-atoms, --limit, --batch-size and --max-index must be ≥ 1, --workers ≥ 0, "
            "slab and vacuum sizes > 0 Å, --e-above-hull ≥ 0, --max-elements ≥ 2"
        )
    if source != "mp" and (e_above_hull != DEFAULT.e_above_hull or max_elements != DEFAULT.max_elements):
        raise fail(
            "--e-above-hull and --max-elements bound a Materials Project query (--source mp); the "
            "bundled set and your files keep every compound, with its estimated e_above_hull_eV_per_atom"
        )
    if engine not in ENGINES:
        raise fail(f"unknown --engine {engine!r}: use one of {', '.join(ENGINES)}")
    if model is not None and not (model.exists() or model.with_suffix(".json").exists()):
        raise fail(f"--model {model}: no such checkpoint")
    cfg = ScreenConfig(
        source=source,
        structures=str(structures.resolve()) if structures else None,
        elements=tuple(sorted(csv_items(elements))),
        max_atoms=max_atoms,
        limit=limit,
        e_above_hull=e_above_hull,
        max_elements=max_elements,
        model=str(model) if model else None,
        mlip_prior=mlip_prior,
    ).with_slab(max_index=max_index, min_slab_size_A=min_slab, min_vacuum_size_A=min_vacuum)
    try:
        with sigterm_raises(), Bars() as bars:
            if engine == "jobflow":
                from semcgcnn.workflows.local import run_screen_jobflow

                summary = run_screen_jobflow(cfg, out, workers=workers, resume=resume, batch_size=batch_size)
            else:
                summary = run_screen(
                    cfg, out, workers=workers, resume=resume, batch_size=batch_size, progress=bars
                )
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        raise fail(str(disk_full_error(Path(exc.filename or out))), code=1) from None
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (semcgcnn.interrupts.Terminated)
        raise fail(_interrupted(out, exc), code=exit_status(exc)) from None
    _print_summary(summary)


def _interrupted(out: Path, exc: KeyboardInterrupt) -> str:
    """What an interrupted run kept, and how to go on."""
    from semcgcnn.interrupts import stopped_by
    from semcgcnn.pipeline.screen.store import PartStore

    n = len(PartStore(out).done())
    return (
        f"{stopped_by(exc)}: {n} compound{'s' if n != 1 else ''} committed in {out}; run the same "
        "command with --resume to continue from there"
    )


def trust_lines(wulff: pd.DataFrame) -> list[str]:
    """What the summary says of the ranked Wulff rows (trusted intermetallics): how many are
    ranked, then how many were left out and, one line each, why (the untrusted by their ``trust``
    reasons, the trusted of another compound class by their class), or that none was."""
    from semcgcnn.pipeline.screen.ranking import ranked_rows
    from semcgcnn.pipeline.screen.rows import TRUST_REASONS, TRUSTED

    ranked = ranked_rows(wulff)
    head = (
        f"Ranked: {int(ranked.sum())} of {len(wulff)} compounds, the trusted intermetallics "
        "(trust == 'trusted' and compound_class == 'intermetallic' in wulff.parquet)."
    )
    if ranked.all():
        return [f"{head} Left out: none."]
    trusted = wulff["trust"] == TRUSTED
    reasons = wulff.loc[~trusted, "trust"].str.split("; ").explode().value_counts()
    classes = wulff.loc[trusted & ~ranked, "compound_class"].value_counts()
    return [
        f"{head} Left out: {int((~ranked).sum())}, for (a compound can have several reasons):",
        *(f"  {reasons[r]:4d}  {r}" for r in TRUST_REASONS if reasons.get(r, 0)),
        *(f"  {n:4d}  trusted, but {c}: not an intermetallic" for c, n in sorted(classes.items())),
    ]


def _print_summary(summary: ScreenSummary) -> None:
    import pandas as pd

    from semcgcnn.model.applicability import training_label_range
    from semcgcnn.pipeline.screen import results
    from semcgcnn.pipeline.screen.ranking import RANKINGS, TOP_K, ranked_rows
    from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

    console = Console(soft_wrap=True)
    wulff, _ = results.read_table(summary.out, "wulff")
    # the same filter an analyst applies to the table: trusted intermetallics
    ranked = wulff[ranked_rows(wulff)]
    t = summary.stage_seconds
    log.info(
        "screen done in %.1f s (slabs %.1f s wall, %.1f s CPU; predictions %.1f s; writing %.1f s)",
        t["total"],
        t["slabs_wall"],
        t["slabs_cpu"],
        t["predictions"],
        t["wulff_and_write"] + t["assemble"],
    )
    table = Table(
        title=f"Screen: {summary.n_compounds} compounds, {summary.n_slabs} slabs "
        f"({summary.n_slabs / max(summary.n_compounds, 1):.1f} per compound), "
        f"{summary.n_errors} error rows → {summary.out}"
    )
    for col in ("ranking (trusted intermetallics)", "compound", "formula", "value", f"P(top {TOP_K})"):
        table.add_column(col)
    for r in RANKINGS:
        for i, row in enumerate(ranked.sort_values(r.column, ascending=r.ascending).head(3).itertuples()):
            std = getattr(row, r.std_column) * r.std_factor
            spread = f" ± {std:.3f}" if pd.notna(std) else ""  # a single model has no 1σ
            p_top = getattr(row, r.probability_column)
            table.add_row(
                r.label if i == 0 else "",
                row.compound_id,
                row.formula,
                f"{getattr(row, r.column):.3f}{spread} {r.unit}",
                f"{p_top:.2f}" if pd.notna(p_top) else "—",
            )
    if len(ranked):
        console.print(table)
        console.print(
            f"P(top {TOP_K}): the chance, from each compound's value and calibrated 1σ, that it is among "
            f"the {TOP_K} best trusted intermetallics of that ranking (wulff table, p_top{TOP_K}_* columns)."
        )
    else:  # no empty table: say why there is nothing to rank (the lines below give the reasons)
        console.print(f"{table.title}: no trusted intermetallic to rank.")
    se, wf = training_label_range()["surface_energy_eV_per_A2"], training_label_range()["work_function_eV"]
    for line in trust_lines(wulff):
        console.print(line)
    console.print(
        f"Training labels' range (1st–99th percentile of the shipped Mg–X slabs): γ "
        f"{se[0] * EV_PER_A2_TO_J_PER_M2:.2f}–{se[1] * EV_PER_A2_TO_J_PER_M2:.2f} J/m², "
        f"Φ {wf[0]:.2f}–{wf[1]:.2f} eV."
    )
