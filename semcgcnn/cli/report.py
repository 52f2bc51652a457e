"""``semcgcnn report``: one self-contained HTML file for a screen run or for trained models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, fail


def report(
    target: Annotated[
        Path,
        typer.Argument(
            help="A finished `semcgcnn screen` folder, or (training report) a "
            "checkpoint card .json or a folder of them."
        ),
    ],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    training: Annotated[
        bool,
        typer.Option(
            "--training",
            help="Report on trained models (detected by itself when TARGET is a card or a folder of cards).",
        ),
    ] = False,
    runs: Annotated[
        Path | None,
        typer.Option(
            help="Training runs folder where a card's exported_from.run "
            "holds last_epoch.pt (learning curves)."
        ),
    ] = None,
) -> None:
    """Write one HTML file (figures inline, no external links): ranked compounds, distributions, Wulff
    shapes, Φ vs dissolution potential and errors of a screen; or parity and learning curves of models."""
    import time

    from semcgcnn.pipeline.report import build_screen_report, build_training_report, is_training_target
    from semcgcnn.progress import Bars

    if not target.exists():
        raise fail(f"{target} not found")
    if out.is_dir():
        raise fail(f"--out {out} is a folder; give a file name such as report.html")
    t0 = time.perf_counter()
    if training or is_training_target(target):
        doc = build_training_report(target, runs)
    else:
        with Bars() as bars:  # the dissolution potentials, when the run folder does not hold them yet
            doc = build_screen_report(target, progress=bars)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    console.print(f"report → {out} ({len(doc) / 1e6:.2f} MB, {time.perf_counter() - t0:.1f} s)")
