"""Prediction throughput of the shipped model (the ensemble where one is shipped, and its single model).

    python bench/predict.py [--cif-slabs N] [--repeats R] [--out bench/results/predict.json]

* warm: the 3218 shipped Mg slabs' graphs already in memory (cached graph set) → predictions,
  the default eager path and with ``compile=True`` (compile time reported apart); and the
  distance term of σ (the first member's embeddings + the kNN search) on its own;
* CIF: ``semcgcnn predict``'s path on N shipped slab CIFs extracted to a folder (read,
  validate, featurize, predict), in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cif-slabs", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/predict.json")
    args = ap.parse_args()

    import torch

    from semcgcnn.datasets import get_spec
    from semcgcnn.model.graphs import dataset_graphs
    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.model.predict_files import predict_files

    torch.set_num_threads(os.cpu_count() or 1)
    p = load_pretrained()
    gs, _ = dataset_graphs("mg_binary_slabs", p.graph_config)

    def warm_times(pred) -> list[float]:
        out = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            pred.predict_graphs(gs)
            out.append(time.perf_counter() - t0)
        return out

    p.predict_graphs(gs.subset(range(64)))  # warm-up
    warm = warm_times(p)
    distance = []  # what σ adds: the first member's embeddings and the kNN search of the reference
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        p.distance(gs)
        distance.append(time.perf_counter() - t0)
    from semcgcnn.model.checkpoint import SHIPPED_MODEL

    single = load_pretrained(SHIPPED_MODEL)  # the single model behind an ensemble default
    single.predict_graphs(gs.subset(range(64)))
    warm_single = warm_times(single)
    pc = load_pretrained(compile=True)
    t0 = time.perf_counter()
    pc.predict_graphs(gs.subset(range(64)))  # compiles
    compile_s = time.perf_counter() - t0
    warm_compiled = warm_times(pc) if pc.compiled else []

    with tempfile.TemporaryDirectory() as tmp:
        archive = next(get_spec("mg_binary_slabs").path.glob("*.tar.xz"))
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.name.endswith(".cif")][: args.cif_slabs]
            for m in members:
                (Path(tmp) / Path(m.name).name).write_bytes(tar.extractfile(m).read())
        t0 = time.perf_counter()
        preds, errors = predict_files([Path(tmp)], p, progress=False)
        cif_s = time.perf_counter() - t0

    result = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "model_id": p.model_id,
        "n_members": len(p.members),
        "predict_warm_single_model_slabs_per_s": round(len(gs) / min(warm_single), 1),
        "warm_slabs": len(gs),
        "warm_s": [round(x, 3) for x in warm],
        "predict_warm_slabs_per_s": round(len(gs) / min(warm), 1),
        "distance_s": [round(x, 3) for x in distance],
        "predict_warm_with_distance_slabs_per_s": round(len(gs) / (min(warm) + min(distance)), 1),
        "warm_compiled_s": [round(x, 3) for x in warm_compiled],
        "compile_s": round(compile_s, 2),
        "predict_warm_compiled_slabs_per_s": round(len(gs) / min(warm_compiled), 1)
        if warm_compiled
        else None,
        "cif_slabs": len(members),
        "cif_errors": len(errors),
        "cif_s": round(cif_s, 2),
        "predict_cif_slabs_per_s": round(len(preds) / cif_s, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
