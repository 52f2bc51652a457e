"""GPAW against the shipped DFT labels: label one small slab of the shipped
Mg–X dataset with the GPAW backend and compare its surface energy and work function with the
shipped value (relaxed VASP-PBE, the SEM-CGCNN authors' data).

    python studies/gpaw_dataset_slab.py --preset fast --out reports/gpaw_dataset_slab.json

The slab is taken as the dataset stores it (its cell, vacuum and termination); the bulk is the
Materials Project structure of the same formula from the shipped ``mg_binary_bulk`` set, so the
slab must be stoichiometric (bulk reference, no chemical-potential choice to disagree on). Both
are computed with the same preset; the slab is relaxed with its interior fixed (paper §2.1).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Annotated

import typer

from semcgcnn.datasets import load
from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS, run_gpaw
from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
from semcgcnn.pipeline.labelling.surface import surface_energy, work_functions
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)
DEFAULT_SLAB = "620db5bb1f9bc37c981e4cfc"  # Li2Mg, 18 atoms, stoichiometric; bulk mp-976843 is shipped


def compare(slab_id: str, preset: str, workdir: Path) -> dict:
    slab_rec = next(r for r in load("mg_binary_slabs") if r.structure_id == slab_id)
    formula = slab_rec.structure.composition.reduced_formula
    bulk_rec = next(b for b in load("mg_binary_bulk") if b.structure.composition.reduced_formula == formula)
    settings = GPAW_PRESETS[preset]
    t0 = time.perf_counter()
    bulk = run_gpaw(bulk_rec.structure, "bulk", settings, workdir / "bulk", relax=False)
    slab = run_gpaw(with_fixed_interior(slab_rec.structure), "slab", settings, workdir / "slab", relax=True)
    gamma = surface_energy(slab, bulk)
    bottom, top = work_functions(slab.potential_z_eV, slab.fermi_eV, slab.pmg_structure())
    label_se, label_wf = slab_rec.targets["surface_energy"], slab_rec.targets["work_function"]
    wf = (bottom + top) / 2
    return {
        "slab_id": slab_id,
        "formula": formula,
        "chemsys": slab_rec.chemsys,
        "n_atoms": len(slab_rec.structure),
        "bulk_id": bulk_rec.structure_id,
        "preset": preset,
        "method": slab.method,
        "settings": settings.as_dict(),
        "gpaw_surface_energy_eV_per_A2": gamma.eV_per_A2,
        "gpaw_surface_energy_J_per_m2": gamma.eV_per_A2 * EV_PER_A2_TO_J_PER_M2,
        "gpaw_work_function_eV": wf,
        "gpaw_work_function_bottom_eV": bottom,
        "gpaw_work_function_top_eV": top,
        "shipped_surface_energy_eV_per_A2": label_se,
        "shipped_work_function_eV": label_wf,
        "difference_surface_energy_eV_per_A2": gamma.eV_per_A2 - label_se,
        "relative_difference_surface_energy": gamma.eV_per_A2 / label_se - 1,
        "difference_work_function_eV": wf - label_wf,
        "slab_ionic_steps": slab.n_ionic_steps,
        "bulk_wall_s": bulk.wall_s,
        "slab_wall_s": slab.wall_s,
        "total_wall_s": time.perf_counter() - t0,
        "note": "shipped labels are relaxed VASP-PBE (PAW, ENCUT 480 eV); GPAW here uses the preset's settings",
    }


def main(
    slab_id: Annotated[
        str, typer.Option(help="structure_id of a stoichiometric slab of mg_binary_slabs.")
    ] = DEFAULT_SLAB,
    preset: Annotated[str, typer.Option(help="GPAW preset: fast or default.")] = "fast",
    out: Annotated[
        Path,
        typer.Option(help="Result JSON (a list, one entry per preset run; this run replaces its preset's)."),
    ] = REPO / "reports" / "gpaw_dataset_slab.json",
    workdir: Annotated[Path, typer.Option(help="GPAW run folders.")] = Path("runs/gpaw_dataset_slab"),
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    res = compare(slab_id, preset, workdir / preset)
    old = json.loads(out.read_text()) if out.exists() else []
    results = [r for r in old if (r["slab_id"], r["preset"]) != (slab_id, preset)] + [res]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            results, indent=2, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o)
        )
        + "\n"
    )
    log.info(
        "%s %s (%s): γ %.4f vs %.4f eV/Å² (%+.0f %%), Φ %.3f vs %.3f eV, %.0f s",
        slab_id,
        res["formula"],
        preset,
        res["gpaw_surface_energy_eV_per_A2"],
        res["shipped_surface_energy_eV_per_A2"],
        100 * res["relative_difference_surface_energy"],
        res["gpaw_work_function_eV"],
        res["shipped_work_function_eV"],
        res["total_wall_s"],
    )


if __name__ == "__main__":
    typer.run(main)
