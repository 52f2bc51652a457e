"""SevenNet 7net-0 single-point energies of every shipped Mg–X slab (unrelaxed, as shipped), of
every shipped Mg–X bulk compound and of the lowest-energy elemental references: the raw input of
the ML-potential prior study (``studies/mlip_prior.py``). Resumable: energies are appended to
``--out`` in chunks and finished ids are skipped on a rerun. Single-threaded, deterministic.

    OMP_NUM_THREADS=1 python studies/mlip_energies.py --out runs/mlip_prior/energies.parquet
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore")

import pandas as pd  # noqa: E402

log = logging.getLogger("mlip_energies")
REPO = Path(__file__).resolve().parents[1]
CHUNK = 100


def _jobs():
    """(kind, id, structure) of every structure to compute: element refs, bulks, then slabs."""
    from semcgcnn.datasets import load

    for r in load("elemental_refs"):
        if r.meta["is_lowest_energy"]:
            yield "element", r.meta["element"], r.structure
    for b in load("mg_binary_bulk"):
        yield "bulk", b.structure_id, b.structure
    for s in load("mg_binary_slabs"):
        yield "slab", s.structure_id, s.structure


def main(
    out: Path, max_atoms: int = 0, part: tuple[int, int] = (0, 1), also_done: tuple[Path, ...] = ()
) -> pd.DataFrame:
    """Compute what ``out`` (and ``also_done``) lack; ``part=(i, k)``: only every k-th structure
    from the i-th (k processes share the work, one file each); ``max_atoms``: larger slabs get
    NaN and a reason instead of an energy (0: no limit)."""
    import torch

    from semcgcnn.pipeline.labelling.mlip import mlip_energy_per_atom, model_elements

    torch.set_num_threads(1)
    known = model_elements("SevenNet")
    done = pd.read_parquet(out) if out.exists() else pd.DataFrame(columns=["kind", "id"])
    seen = set(zip(done["kind"], done["id"], strict=False))
    for p in also_done:
        if p.exists():
            d = pd.read_parquet(p)
            seen |= set(zip(d["kind"], d["id"], strict=False))
    rows, t0, n = [], time.time(), 0
    for j, (kind, sid, s) in enumerate(_jobs()):
        if (kind, sid) in seen or j % part[1] != part[0]:
            continue
        els = {e.symbol for e in s.composition.elements}
        row = {
            "kind": kind,
            "id": sid,
            "formula": s.composition.formula.replace(" ", ""),
            "n_atoms": len(s),
            "energy_eV": float("nan"),
            "reason": "",
        }
        if not els <= known:
            row["reason"] = f"elements outside 7net-0: {sorted(els - known)}"
        elif max_atoms and kind == "slab" and len(s) > max_atoms:
            row["reason"] = f"not computed: more than {max_atoms} atoms (time budget)"
        else:
            row["energy_eV"] = mlip_energy_per_atom(s) * len(s)
        rows.append(row)
        n += 1
        if len(rows) >= CHUNK:
            done = _flush(out, done, rows)
            log.info("%d new structures, %.0f s", n, time.time() - t0)
    _flush(out, done, rows)
    log.info("finished: %d new structures in %.0f s", n, time.time() - t0)
    return pd.read_parquet(out)


def _flush(out: Path, done: pd.DataFrame, rows: list) -> pd.DataFrame:
    if rows:
        done = pd.concat([done, pd.DataFrame(rows)], ignore_index=True) if len(done) else pd.DataFrame(rows)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        done.to_parquet(tmp, index=False)
        tmp.replace(out)
        rows.clear()
    return done


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "runs/mlip_prior/energies.parquet")
    p.add_argument("--max-atoms", type=int, default=0, help="skip slabs larger than this (0: none)")
    p.add_argument("--part", default="0/1", help="I/K: every K-th structure from the I-th (K processes)")
    p.add_argument(
        "--also-done", type=Path, nargs="*", default=(), help="other processes' outputs: skip their ids"
    )
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    i, k = (int(v) for v in a.part.split("/"))
    main(a.out, a.max_atoms, (i, k), tuple(a.also_done))
