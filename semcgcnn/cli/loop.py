"""``semcgcnn loop``: one round of active learning (screen → select → label → fine-tune → re-screen)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import console, csv_items, fail


def loop(
    out: Annotated[
        Path, typer.Option(help="Folder: screen-0/, picks/, labels/, model-1.json, screen-1/, jobflow/.")
    ],
    budget: Annotated[int, typer.Option(help="Slabs to label (semcgcnn select).")] = 4,
    backend: Annotated[str, typer.Option(help="Labelling backend: gpaw, vasp or mlip.")] = "gpaw",
    preset: Annotated[str, typer.Option(help="Backend preset: fast or default.")] = "default",
    structures: Annotated[
        Path | None, typer.Option(help="Folder of your own bulk files (else the 210 shipped binaries).")
    ] = None,
    elements: Annotated[
        str, typer.Option(help="Comma list: keep compounds whose partner elements are all in it.")
    ] = "",
    limit: Annotated[int | None, typer.Option(help="Screen only the first N candidates.")] = None,
    workers: Annotated[int, typer.Option(help="Slab processes of the screens (0: all cores).")] = 0,
) -> None:
    """One active-learning round as a jobflow Flow, run here with run_locally."""
    from semcgcnn.pipeline.screen.config import ScreenConfig
    from semcgcnn.progress import Bars
    from semcgcnn.workflows.active_learning import ActiveLearningMaker, run_loop_locally
    from semcgcnn.workflows.labelling.maker import SurfacePropertyMaker
    from semcgcnn.workflows.screen.maker import ScreeningMaker

    if budget < 1 or (limit is not None and limit < 1):
        raise fail("--budget and --limit must be ≥ 1")
    if out.exists() and any(out.iterdir()):
        raise fail(f"{out} is not empty: a loop writes a new folder")
    labeller = SurfacePropertyMaker.from_backend(backend, preset)
    labeller.check([])  # installed; elements are checked per flow
    screen = ScreeningMaker(
        config=ScreenConfig(
            structures=str(structures.resolve()) if structures else None,
            elements=tuple(sorted(csv_items(elements))),
            limit=limit,
        ),
        workers=workers,
    )
    maker = ActiveLearningMaker(screen=screen, budget=budget, labeller=labeller)
    with Bars() as bars:
        res = run_loop_locally(maker, out, bars)
    for r in res["comparison"].itertuples():
        console.print(
            f"{r.slab_id} {r.miller_index}: DFT γ {r.dft_surface_energy_eV_per_A2:.4f}, predicted "
            f"{r.before_surface_energy_eV_per_A2:.4f} ± {r.before_surface_energy_eV_per_A2_std:.4f} → "
            f"{r.after_surface_energy_eV_per_A2:.4f} ± {r.after_surface_energy_eV_per_A2_std:.4f} eV/Å²; "
            f"DFT Φ {r.dft_work_function_eV:.2f}, predicted {r.before_work_function_eV:.2f} → "
            f"{r.after_work_function_eV:.2f} eV"
        )
    console.print(
        f"{res['model_before']} → {res['model_after']} ({res['paths']['model']}); "
        f"re-screen in {res['paths']['screen']}"
    )
