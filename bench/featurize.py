"""Featurization benchmark: project featurizer vs. the original CGCNN approach, same run.

    python bench/featurize.py [--reference-limit N] [--out bench/results/featurize.json]

Both sides featurize the 3218 shipped Mg–X slabs from already-parsed pymatgen structures
(the reference: ``get_all_neighbors``, per-atom Python sort, per-structure Gaussian
expansion, atom-by-atom surface flags; see ``tests/reference_cgcnn.py``). Also measured: the
cold end-to-end time from the CIF archive (parse + featurize, empty cache) and the warm
load of cached graphs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the reference implementation lives with the tests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--reference-limit", type=int, default=0, help="reference on the first N slabs only (0: all)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/featurize.json")
    args = ap.parse_args()

    from reference_cgcnn import reference_graph

    from semcgcnn.datasets import load
    from semcgcnn.model import GraphConfig
    from semcgcnn.model.graphs import dataset_graphs, featurize_structures

    cfg = GraphConfig()
    cores = os.cpu_count() or 1
    results: dict = {
        "machine": {"cores": cores, "python": platform.python_version(), "cpu": platform.processor()}
    }

    # cold: CIF archive -> parsed structures -> graphs, with an empty cache
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEMCGCNN_CACHE_DIR"] = tmp
        t = time.perf_counter()
        dataset_graphs("mg_binary_slabs", cfg)
        results["cold_end_to_end_from_cif_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        gs, cached = dataset_graphs("mg_binary_slabs", cfg)
        assert cached
        results["warm_cached_graph_load_s"] = round(time.perf_counter() - t, 3)
        del os.environ["SEMCGCNN_CACHE_DIR"]

    records = load("mg_binary_slabs")
    structures = [r.structure for r in records]
    ids = [r.structure_id for r in records]
    n = len(structures)
    results["n_slabs"] = n
    results["n_atoms"] = int(sum(len(s) for s in structures))

    t = time.perf_counter()
    featurize_structures(structures, ids, cfg, workers=1)
    serial_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = featurize_structures(structures, ids, cfg, workers=cores)
    par_s = time.perf_counter() - t
    results["project_serial_slabs_per_s"] = round(n / serial_s, 1)
    results["project_slabs_per_s"] = round(n / par_s, 1)
    results["project_workers"] = cores

    m = args.reference_limit or n
    t = time.perf_counter()
    refs = [reference_graph(s, cfg) for s in structures[:m]]
    ref_s = time.perf_counter() - t
    results["reference_slabs"] = m
    results["reference_slabs_per_s"] = round(m / ref_s, 2)
    results["speedup"] = round(results["project_slabs_per_s"] / results["reference_slabs_per_s"], 1)
    results["speedup_serial"] = round(
        results["project_serial_slabs_per_s"] / results["reference_slabs_per_s"], 1
    )

    # the two featurizers agree on every benchmarked slab
    worst = 0.0
    for i, (idx, dist, weight, _, surface) in enumerate(refs):
        g = ours[i]
        assert np.array_equal(g.surface, surface), ids[i]
        for a, (ri, rd, rw) in enumerate(zip(idx, dist, weight, strict=True)):  # same edges, any column order
            real = g.nbr_weight[a] > 0
            mine = sorted(zip(g.nbr_idx[a][real], g.nbr_dist[a][real], g.nbr_weight[a][real], strict=True))
            theirs = sorted(zip(ri, rd, rw, strict=True))
            assert [m[0] for m in mine] == [t[0] for t in theirs], ids[i]
            np.testing.assert_allclose([m[2] for m in mine], [t[2] for t in theirs], rtol=1e-6)
            worst = max(worst, float(np.abs(np.array([m[1] for m in mine]) - [t[1] for t in theirs]).max()))
    results["max_abs_distance_difference_A"] = worst

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
