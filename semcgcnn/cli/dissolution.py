"""``semcgcnn dissolution``: the dissolution equilibrium potential of a screen's compounds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console


def dissolution(
    run_dir: Annotated[Path, typer.Argument(help="A finished `semcgcnn screen` folder.")],
    source: Annotated[
        str,
        typer.Option(
            help="Formation energies: auto (mp with MP_API_KEY, else mlip), mp, "
            "shipped, or mlip (SevenNet 7net-0, offline)."
        ),
    ] = "auto",
) -> None:
    """Equilibrium potential (V vs SHE) of each compound dissolving at pH 7, \
10⁻⁶ mol/L → RUN_DIR/dissolution.parquet."""
    from semcgcnn.pipeline.analysis.dissolution_table import dissolution_frame, summary, write_dissolution
    from semcgcnn.pipeline.analysis.formation_energy import resolve_source
    from semcgcnn.progress import progress_bar

    resolved = resolve_source(source)
    n = len(_compound_ids(run_dir))
    with progress_bar("formation energies", n) as advance:
        frame = dissolution_frame(run_dir, source, advance=advance)
    path = write_dissolution(run_dir, frame, resolved)
    counts = ", ".join(f"{v} {k}" for k, v in summary(frame).items())
    console.print(f"{len(frame)} compounds ({counts}) → {path}")


def _compound_ids(run_dir: Path) -> list[str]:
    from semcgcnn.pipeline.screen.results import read_table

    return list(read_table(run_dir, "compounds")[0]["compound_id"])
