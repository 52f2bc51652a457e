"""How GPAW's wall time grows with the size of a calculation: single points of real cells with
the ``fast`` preset, fitted as wall = a · W^p with W = k-points × bands × plane waves (the work of
one pass over the wave functions, :func:`semcgcnn.pipeline.labelling.gpaw.gpaw_work`).

    python bench/label_cost.py [--out bench/results/label_cost.json]

Cells: hcp Mg bulk and its (0001) slab, and shipped Mg–X slabs (``mg_binary_slabs``) of about
8, 12 and 18 atoms whose elements have GPAW setups here (the first by structure id of each
size). Then, against the fitted law: the ``default`` preset's single points of the Mg bulk and
slab (its factor) and a relaxed ``fast`` run of the 12-atom slab (what a relaxation
multiplies). :data:`~semcgcnn.pipeline.labelling.gpaw.COST_LAW` holds these numbers.

    python bench/label_cost.py --extras      # then the preset factor and relaxations, into the same file
    python bench/label_cost.py --constants   # then COST_LAW's numbers, from the file
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_ATOMS = (8, 12, 18)
TIMEOUT_S = 240.0  # a run past it (an SCF that converges slowly) is recorded, not fitted


def cells():
    from pymatgen.core import Lattice, Structure

    from semcgcnn.datasets import load
    from semcgcnn.pipeline.labelling.gpaw import gpaw_elements
    from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
    from semcgcnn.pipeline.slabs import SlabConfig, conventional_cell, slabs_for_miller

    bulk = Structure(
        Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    )
    yield "Mg bulk", bulk, "bulk"
    conv, _, _ = conventional_cell(bulk)
    yield "Mg(0001)", with_fixed_interior(slabs_for_miller(conv, (0, 0, 1), SlabConfig())[0][0]), "slab"
    have = gpaw_elements()
    records = sorted(load("mg_binary_slabs"), key=lambda r: r.structure_id)
    for n in TARGET_ATOMS:
        rec = next(
            r
            for r in records
            if len(r.structure) == n and {el.symbol for el in r.structure.composition.elements} <= have
        )
        yield rec.structure_id, rec.structure, "slab"


def _timed(structure, kind, settings, workdir: Path, relax: bool) -> tuple[float, object]:
    from semcgcnn.pipeline.labelling.gpaw import run_gpaw

    t0 = time.perf_counter()
    r = run_gpaw(structure, kind, settings, workdir, relax=relax)
    return time.perf_counter() - t0, r


def extras(fit: dict) -> dict:
    """The default preset's factor over the fast law, and relaxed over single-point wall time."""
    from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS, gpaw_work

    law = lambda s, kind, settings: fit["a"] * gpaw_work(s, kind, settings) ** fit["p"]  # noqa: E731
    listed = list(cells())
    out: dict = {"default_single_points": [], "fast_relaxations": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, s, kind) in enumerate(listed[:2]):
            wall, r = _timed(s, kind, GPAW_PRESETS["default"], Path(tmp) / f"d{i}", relax=False)
            out["default_single_points"].append(
                {
                    "name": name,
                    "method": r.method,
                    "wall_s": round(wall, 2),
                    "over_fast_law": round(wall / law(s, kind, GPAW_PRESETS["default"]), 3),
                }
            )
            print(json.dumps(out["default_single_points"][-1]), flush=True)
        fast = GPAW_PRESETS["fast"]
        singles = {r["name"]: r["wall_s"] for r in fit["runs"]}
        name, s, kind = listed[3]  # the 12-atom slab: the fitted run's single point against its relaxation
        wall, r = _timed(s, kind, fast, Path(tmp) / "r", relax=True)
        out["fast_relaxations"].append(
            {
                "name": name,
                "n_atoms": len(s),
                "single_s": singles[name],
                "relaxed_s": round(wall, 2),
                "ionic_steps": r.n_ionic_steps,
                "relaxed_over_single": round(wall / singles[name], 2),
            }
        )
        print(json.dumps(out["fast_relaxations"][-1]), flush=True)
    return out


def constants(result: dict) -> dict:
    """COST_LAW's numbers from a finished benchmark (its runs and extras, and the relaxed runs of
    ``bench/results/label_gpaw.json``)."""
    gpaw_bench = json.loads((ROOT / "bench/results/label_gpaw.json").read_text())["presets"]
    dsp = {r["name"]: r for r in result["extras"]["default_single_points"]}
    runs = {r["name"]: r for r in result["runs"]}
    slab_single = {"fast": runs["Mg(0001)"]["wall_s"], "default": dsp["Mg(0001)"]["wall_s"]}
    relaxed = {k: gpaw_bench[k]["slab_wall_s"] for k in slab_single}
    steps = {k: gpaw_bench[k]["slab_ionic_steps"] for k in slab_single}
    fast_relax = max(
        relaxed["fast"] / slab_single["fast"], result["extras"]["fast_relaxations"][0]["relaxed_over_single"]
    )
    return {
        "a": result["fit"]["a"],
        "p": result["fit"]["p"],
        "preset_factor": {
            "fast": 1.0,
            "default": round(
                math.sqrt(dsp["Mg bulk"]["over_fast_law"] * dsp["Mg(0001)"]["over_fast_law"]), 3
            ),
        },
        "preset_factor_from": "geometric mean of the default preset's Mg bulk and Mg(0001) single "
        "points over the fast law",
        "relax_factor": {
            "fast": round(fast_relax, 2),
            "default": round(relaxed["default"] / slab_single["default"], 2),
        },
        "relax_factor_from": {
            k: f"Mg(0001) relaxed ({steps[k]} BFGS steps, label_gpaw.json: {relaxed[k]} s) over its "
            f"single point here ({slab_single[k]} s); fast also the 12-atom slab's relaxation (0 steps)"
            for k in slab_single
        },
        "spread": [
            round(result["fit"]["measured_over_fit_min"], 2),
            round(result["fit"]["measured_over_fit_max"], 2),
        ],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/label_cost.json")
    ap.add_argument("--extras", action="store_true", help="only the preset factor and relaxations")
    ap.add_argument("--constants", action="store_true", help="only COST_LAW's numbers, from the file")
    args = ap.parse_args()
    if args.constants:
        result = json.loads(args.out.read_text())
        result["constants"] = constants(result)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result["constants"]))
        return
    if args.extras:
        result = json.loads(args.out.read_text())
        result["extras"] = extras({**result["fit"], "runs": result["runs"]})
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result["extras"]))
        return
    import numpy as np

    from semcgcnn.pipeline.labelling.calc import LabelError
    from semcgcnn.pipeline.labelling.gpaw import gpaw_info, gpaw_work, preset, run_gpaw

    settings = preset("fast", timeout_s=TIMEOUT_S)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, s, kind) in enumerate(cells()):
            run = {"name": name, "formula": s.composition.reduced_formula, "kind": kind, "n_atoms": len(s)}
            run["work"] = gpaw_work(s, kind, settings)
            t0 = time.perf_counter()
            try:
                r = run_gpaw(s, kind, settings, Path(tmp) / str(i), relax=False)
                run.update(method=r.method, wall_s=round(time.perf_counter() - t0, 2))
            except LabelError as exc:
                run.update(wall_s=None, failed=str(exc)[:300])
            runs.append(run)
            print(json.dumps(run), flush=True)
    fitted = [r for r in runs if r["wall_s"] is not None]
    x = np.log([r["work"] for r in fitted])
    y = np.log([r["wall_s"] for r in fitted])
    p, log_a = np.polyfit(x, y, 1)
    pred = np.exp(log_a + p * x)
    ratio = np.array([r["wall_s"] for r in fitted]) / pred
    gpaw_bench = json.loads((ROOT / "bench/results/label_gpaw.json").read_text())["presets"]
    result = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_at_start": os.getloadavg(),
        },
        "gpaw": gpaw_info()["gpaw"],
        "preset": "fast",
        "mpi_ranks": settings.mpi_ranks,
        "runs": runs,
        "fit": {
            "law": "wall_s = a * work**p, work = k-points (time reversal) x bands x plane waves",
            "n_runs": len(fitted),
            "timeout_s": TIMEOUT_S,
            "a": float(math.exp(log_a)),
            "p": float(p),
            "measured_over_fit_min": float(ratio.min()),
            "measured_over_fit_max": float(ratio.max()),
        },
        "default_over_fast_mg0001_slab": round(
            gpaw_bench["default"]["slab_wall_s"] / gpaw_bench["fast"]["slab_wall_s"], 2
        ),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["fit"]))


if __name__ == "__main__":
    main()
