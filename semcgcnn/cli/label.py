"""``semcgcnn label``: DFT (GPAW, VASP) or ML-potential surface labels of a bulk crystal's slabs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from semcgcnn.pipeline.labelling.gpaw import COST_LIMIT_HOURS

from .common import console, fail

if TYPE_CHECKING:
    from semcgcnn.workflows.labelling.run import LabelSummary


def label(
    bulk_file: Annotated[Path, typer.Argument(help="Bulk crystal (CIF, POSCAR/.vasp, pymatgen JSON).")],
    out: Annotated[
        Path, typer.Option(help="Output folder: labels.parquet, errors.parquet, jobflow/ (job folders).")
    ],
    miller: Annotated[
        tuple[int, int, int] | None, typer.Option(help="One facet, e.g. --miller 0 0 1.")
    ] = None,
    max_index: Annotated[
        int, typer.Option(help="Without --miller: every distinct facet up to this index.")
    ] = 1,
    backend: Annotated[
        str,
        typer.Option(
            help="gpaw (DFT here), vasp (atomate2; needs VASP and POTCARs, or "
            "--dry-run) or mlip (SevenNet 7net-0: surface energy only)."
        ),
    ] = "gpaw",
    preset: Annotated[
        str, typer.Option(help="fast (tests, quick checks) or default (converged settings).")
    ] = "default",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="vasp, gpaw: write submit-ready input folders to OUT/vasp_inputs or OUT/gpaw_inputs "
            "instead of running (then: semcgcnn label collect OUT).",
        ),
    ] = False,
    relax_bulk: Annotated[
        bool, typer.Option(help="Relax the bulk (cell and atoms) first; slabs are cut from it.")
    ] = False,
    relax_slabs: Annotated[
        bool, typer.Option(help="Relax slab atoms within 3 Å of a surface (paper §2.1).")
    ] = True,
    rich_element: Annotated[
        str, typer.Option(help="Non-stoichiometric slabs of a binary: the rich-limit element.")
    ] = "Mg",
    force_size: Annotated[
        bool,
        typer.Option(
            "--force-size",
            help="gpaw: run even when the memory estimate exceeds this machine's available memory, "
            "or the time estimate --max-hours.",
        ),
    ] = False,
    max_hours: Annotated[
        float,
        typer.Option(help="gpaw: refuse a calculation estimated to take longer on this machine."),
    ] = COST_LIMIT_HOURS,
) -> None:
    """Label slabs of a bulk crystal: γ (eV/Å², J/m²) and Φ of both faces (eV) into OUT/labels.parquet."""
    from semcgcnn.interrupts import exit_status, sigterm_raises
    from semcgcnn.progress import Bars
    from semcgcnn.workflows.labelling.backends import check_dry_run
    from semcgcnn.workflows.labelling.maker import SurfacePropertyMaker
    from semcgcnn.workflows.labelling.run import read_bulk, run_label, write_inputs

    if max_index < 1:
        raise fail("--max-index must be ≥ 1")
    if miller is not None and not any(miller):
        raise fail("--miller 0 0 0 is not a plane")
    maker = SurfacePropertyMaker.from_backend(
        backend,
        preset,
        relax_bulk=relax_bulk,
        relax_slabs=relax_slabs,
        miller=miller,
        max_index=max_index,
        rich_element=rich_element,
    )
    if dry_run:
        check_dry_run(maker.backend)
        folders = write_inputs(read_bulk(bulk_file), bulk_file.stem, maker, out.resolve())
        steps = " (relax/ and static/ in each)" if maker.backend == "vasp" else ""
        console.print(
            f"{len(folders)} {maker.backend.upper()} input folders{steps} in {folders[0].parent}: "
            f"run {folders[0].parent / 'run_all.sh'}, then `semcgcnn label collect {out}`"
        )
        return
    try:
        with sigterm_raises(), Bars() as bars:
            summary = run_label(bulk_file, out, maker, bars, force_size=force_size, max_hours=max_hours)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (semcgcnn.interrupts.Terminated)
        raise fail(_interrupted(out, exc), code=exit_status(exc)) from None
    _print_summary(summary)


def collect(
    folder: Annotated[
        Path,
        typer.Argument(
            help="A finished --dry-run tree (OUT/vasp_inputs, OUT/gpaw_inputs) or the OUT holding it."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Where labels.parquet and errors.parquet go (default: OUT).")
    ] = None,
) -> None:
    """Read finished VASP or GPAW input folders back into labels.parquet and errors.parquet."""
    from semcgcnn.workflows.labelling.run import collect as collect_tree

    if not folder.is_dir():
        raise fail(f"{folder}: no such folder")
    _print_summary(collect_tree(folder, out))


def _interrupted(out: Path, exc: KeyboardInterrupt) -> str:
    """What a stopped label run kept: its finished calculations' job folders."""
    from semcgcnn.interrupts import stopped_by
    from semcgcnn.workflows.labelling.run import finished_calculations

    n, where = finished_calculations(out)
    return (
        f"{stopped_by(exc)}: {n} finished calculation{'s' if n != 1 else ''} kept in {where}; "
        "labels.parquet not written"
    )


def _print_summary(summary: LabelSummary) -> None:
    import pandas as pd

    labels = pd.read_parquet(summary.paths["labels"])
    for r in labels.itertuples():
        wf = (
            f"{r.work_function_bottom_eV:.3f} / {r.work_function_top_eV:.3f} eV"
            if r.work_function_available
            else "n/a"
        )
        console.print(
            f"{r.structure_id} {r.miller_index}: γ {r.surface_energy_eV_per_A2:.4f} eV/Å² "
            f"({r.surface_energy_J_per_m2:.3f} J/m²), Φ bottom/top {wf}"
        )
    errors = pd.read_parquet(summary.paths["errors"])
    for r in errors.itertuples():
        console.print(f"[yellow]not labelled[/] {r.id}: {r.reason}")
    console.print(
        f"{summary.n_labels} labels, {summary.n_errors} error rows in {summary.wall_s:.0f} s → "
        f"{summary.paths['labels']}"
    )
