"""GPAW labelling benchmark: Mg bulk + Mg(0001) slab per preset, wall time, γ and work functions.

    python bench/label_gpaw.py [--presets fast default] [--out bench/results/label_gpaw.json]

hcp Mg at a = 3.21 Å, c = 5.21 Å (bulk atoms relaxed, cell fixed: the slab is cut from this
bulk with the project's slab stage, SlabConfig() → 6 layers, ~15.6 Å vacuum, interior fixed as
in the paper). References: γ = 0.0318 eV/Å², work function 3.61 eV.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GAMMA_REF, WF_REF = 0.0318, 3.61


def label(name: str, workdir: Path) -> dict:
    from pymatgen.core import Lattice, Structure

    from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS, run_gpaw
    from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
    from semcgcnn.pipeline.labelling.surface import surface_energy, work_functions
    from semcgcnn.pipeline.slabs import SlabConfig, conventional_cell, slabs_for_miller
    from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

    bulk = Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 1 / 4]]
    )
    t0 = time.perf_counter()
    rb = run_gpaw(bulk, "bulk", name, workdir / "bulk")
    conv, _, _ = conventional_cell(rb.pmg_structure())
    slabs, _ = slabs_for_miller(conv, (0, 0, 1), SlabConfig())
    rs = run_gpaw(with_fixed_interior(slabs[0]), "slab", name, workdir / "slab")
    total = time.perf_counter() - t0
    gamma = surface_energy(rs, rb).eV_per_A2
    bottom, top = work_functions(rs.potential_z_eV, rs.fermi_eV, rs.pmg_structure())
    return {
        "settings": GPAW_PRESETS[name].as_dict(),
        "bulk_method": rb.method,
        "slab_method": rs.method,
        "bulk_wall_s": round(rb.wall_s, 1),
        "slab_wall_s": round(rs.wall_s, 1),
        "total_wall_s": round(total, 1),
        "bulk_ionic_steps": rb.n_ionic_steps,
        "slab_ionic_steps": rs.n_ionic_steps,
        "slab_atoms": rs.n_atoms,
        "gamma_eV_per_A2": round(gamma, 5),
        "gamma_J_per_m2": round(gamma * EV_PER_A2_TO_J_PER_M2, 4),
        "gamma_vs_ref": round(gamma / GAMMA_REF - 1, 4),
        "wf_bottom_eV": round(bottom, 4),
        "wf_top_eV": round(top, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["fast", "default"])
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/label_gpaw.json")
    args = ap.parse_args()

    from semcgcnn.pipeline.labelling.gpaw import gpaw_info

    info = gpaw_info()
    results: dict = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "cpu": platform.processor(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "gpaw": info["gpaw"],
        "ase": info["ase"],
        "gpaw_python": info["python"],
        "reference": {"gamma_eV_per_A2": GAMMA_REF, "wf_eV": WF_REF},
        "presets": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.presets:
            results["presets"][name] = label(name, Path(tmp) / name)
            print(name, json.dumps(results["presets"][name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
