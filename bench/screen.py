"""Screening benchmark: the full default screen (210 shipped Mg–X binaries) end to end, and plain
pymatgen slab generation on a sample of the same compounds, in the same run.

    python bench/screen.py [--sample 10] [--workers 0] [--engines plain,jobflow] \
[--out bench/results/screen.json]

Plain pymatgen: ``generate_all_slabs(conventional cell, max_index=1, 10 Å, 15 Å,
center_slab=True, symmetrize=True)``, one process. The project's slabs of the same sample are
timed in one process too, so the per-compound comparison is like for like; the full screen
then uses all cores. ``--engines plain,jobflow`` also times ``semcgcnn screen --engine jobflow``
(the ScreeningMaker Flow under ``jobflow.run_locally``) on the same candidates, right after the
plain screen, and checks that its tables equal the plain ones. ``--limit N`` screens only the
first N candidates (a quick check; not for the quoted numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def plain_pymatgen(sample, seed: int) -> dict:
    """Per-compound time and slab count of pymatgen's generate_all_slabs vs the project's slabs."""
    from pymatgen.core.surface import generate_all_slabs

    from semcgcnn.pipeline.slabs import SlabConfig, compound_slabs, conventional_cell

    rows = []
    for c in sample:
        conv, _, _ = conventional_cell(c.structure)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            plain = generate_all_slabs(conv, 1, 10.0, 15.0, center_slab=True, symmetrize=True)
            t_plain = time.perf_counter() - t
        t = time.perf_counter()
        ours = compound_slabs(c.compound_id, c.structure, SlabConfig())
        t_ours = time.perf_counter() - t
        rows.append(
            {
                "compound_id": c.compound_id,
                "formula": c.formula,
                "bulk_sites": c.n_atoms,
                "pymatgen_s": round(t_plain, 3),
                "pymatgen_slabs": len(plain),
                "project_s": round(t_ours, 3),
                "project_slabs": len(ours.slabs),
                "project_symmetric_slabs": sum(r["symmetric"] for r in ours.slabs),
                "project_lost_terminations": len(ours.errors),
            }
        )
    tp, to = sum(r["pymatgen_s"] for r in rows), sum(r["project_s"] for r in rows)
    return {
        "sample_seed": seed,
        "compounds": rows,
        "pymatgen_s_per_compound": round(tp / len(rows), 3),
        "project_s_per_compound": round(to / len(rows), 3),
        "speedup_one_process": round(tp / to, 2),
        "pymatgen_slabs_per_compound": round(sum(r["pymatgen_slabs"] for r in rows) / len(rows), 2),
        "project_slabs_per_compound": round(sum(r["project_slabs"] for r in rows) / len(rows), 2),
        "project_symmetric_slabs_per_compound": round(
            sum(r["project_symmetric_slabs"] for r in rows) / len(rows), 2
        ),
    }


def jobflow_engine(cfg, tmp: Path, workers: int, plain_wall_s: float) -> dict:
    """Wall time of the jobflow engine on the screen the plain engine just ran in ``tmp/screen``,
    its ratio to the plain wall time, and whether every table equals the plain one."""
    import pandas as pd

    from semcgcnn.schema import TABLES
    from semcgcnn.workflows.local import run_screen_jobflow

    t = time.perf_counter()
    summary = run_screen_jobflow(cfg, tmp / "jobflow", workers=workers)
    wall = time.perf_counter() - t
    same = all(
        pd.read_parquet(tmp / "screen" / f"{n}.parquet").equals(pd.read_parquet(summary.tables[n]))
        for n in TABLES
    )
    return {
        "wall_s": round(wall, 1),
        "ratio_to_plain": round(wall / plain_wall_s, 2),
        "tables_identical": same,
        "stage_s": {k: round(v, 1) for k, v in summary.stage_seconds.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=10, help="compounds for the plain pymatgen comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--workers", type=int, default=0, help="slab processes for the full screen (0: all cores)"
    )
    ap.add_argument(
        "--engines", default="plain", help="comma list: plain, jobflow (timed on the same screen)"
    )
    ap.add_argument(
        "--limit", type=int, default=None, help="screen only the first N candidates (quick check)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/screen.json")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    import pandas as pd
    import pymatgen.core

    from semcgcnn.pipeline.screen.candidates import load_bundled
    from semcgcnn.pipeline.screen.config import ScreenConfig
    from semcgcnn.pipeline.screen.run import run_screen

    cores = os.cpu_count() or 1
    results: dict = {
        "machine": {
            "cores": cores,
            "python": platform.python_version(),
            "pymatgen": pymatgen.core.__version__,
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        summary = run_screen(ScreenConfig(limit=args.limit), Path(tmp) / "screen", workers=args.workers)
        wall = time.perf_counter() - t
        compounds = pd.read_parquet(summary.tables["compounds"])
        errors = pd.read_parquet(summary.tables["errors"])
        wulff = pd.read_parquet(summary.tables["wulff"])
        if "jobflow" in engines:
            results["jobflow_engine"] = jobflow_engine(
                ScreenConfig(limit=args.limit), Path(tmp), args.workers, wall
            )
    results["full_screen"] = {
        "compounds": summary.n_compounds,
        "slabs": summary.n_slabs,
        "slabs_per_compound": round(summary.n_slabs / summary.n_compounds, 2),
        "compounds_without_slabs": int((compounds["n_slabs"] == 0).sum()),
        "symmetric_slabs": int((compounds["n_slabs"] - compounds["n_slabs_asymmetric"]).sum()),
        "asymmetric_polar_slabs": int(compounds["n_slabs_asymmetric"].sum()),
        "symmetric_slabs_per_compound": round(
            float((compounds["n_slabs"] - compounds["n_slabs_asymmetric"]).sum()) / summary.n_compounds, 2
        ),
        "lost_terminations": int(compounds["n_slabs_lost"].sum()),
        "error_rows_by_stage": errors["stage"].value_counts().to_dict(),
        "compounds_out_of_domain": int((~wulff["compound_in_domain"]).sum()),
        "compounds_with_wulff": int(wulff["weighted_work_function_eV"].notna().sum()),
        "trusted_wulff_rows": int((wulff["trust"] == "trusted").sum()),
        "workers": args.workers or cores,
        "wall_s": round(wall, 1),
        "stage_s": {k: round(v, 1) for k, v in summary.stage_seconds.items()},
    }
    print(
        json.dumps({k: results[k] for k in ("full_screen", "jobflow_engine") if k in results}, indent=2),
        flush=True,
    )
    if args.sample < 1:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        return

    sample = random.Random(args.seed).sample(load_bundled(), args.sample)
    results["plain_pymatgen_sample"] = plain_pymatgen(sample, args.seed)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps({k: v for k, v in results["plain_pymatgen_sample"].items() if k != "compounds"}, indent=2)
    )


if __name__ == "__main__":
    main()
