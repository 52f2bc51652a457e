"""The screening run: candidates → slabs → predictions → Wulff → Parquet tables, resumable.

Slabs are cut in a process pool, one compound per task. Finished compounds are collected into
batches; each batch is predicted, Wulff-constructed and committed atomically as one *part*
folder (written under a temporary name, then renamed), whose ``done.json`` lists its compounds.
A run killed at any moment resumes with ``resume=True``: committed compounds are skipped, a
half-written part is discarded, and the final tables are assembled from the parts in candidate
order, so no row is lost or duplicated.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from semcgcnn.datasets import EV_PER_A2_TO_J_PER_M2

from . import candidates as cand_mod
from semcgcnn.schema import SCHEMAS, TABLES, provenance, to_table, write_parquet
from .slabs import SlabConfig, SlabResult, compound_slabs
from .wulff import lowest_per_facet, wulff

log = logging.getLogger(__name__)

MANIFEST = "run.json"
PARTS = "parts"


class ScreenError(RuntimeError):
    """A user-facing problem that stops the run (one-line message)."""


@dataclass(frozen=True)
class ScreenConfig:
    """Everything that decides a screen's results (recorded in the tables' metadata)."""

    source: str = "bundled"
    structures: str | None = None
    elements: tuple[str, ...] = ()
    max_atoms: int | None = None
    limit: int | None = None
    e_above_hull: float = 0.05
    model: str | None = None
    slab: SlabConfig = field(default_factory=SlabConfig)

    def parameters(self) -> dict:
        d = asdict(self)
        d["elements"] = list(self.elements)
        d["slab"] = self.slab.as_dict()
        d["slab"]["retry_thickness_factors"] = list(self.slab.retry_thickness_factors)
        return d


class Reporter:
    """Progress hooks (the CLI draws rich bars); the default does nothing."""

    def start(self, stage: str, total: int) -> None: ...

    def advance(self, stage: str, n: int = 1) -> None: ...


@dataclass
class ScreenSummary:
    out: Path
    n_candidates: int
    n_compounds: int
    n_slabs: int
    n_errors: int
    stage_seconds: dict[str, float]
    tables: dict[str, Path]


# ----------------------------------------------------------------------------- workers


def _slab_job(job: tuple[int, str, object, SlabConfig]) -> tuple[int, SlabResult, float]:
    index, compound_id, structure, cfg = job
    t0 = time.perf_counter()
    try:
        res = compound_slabs(compound_id, structure, cfg)
    except Exception as exc:  # noqa: BLE001 - one compound's failure must not stop the screen
        res = SlabResult(compound_id, errors=[{"stage": "slabs", "id": compound_id,
                                               "reason": f"{type(exc).__name__}: {exc}".splitlines()[0]}])
    return index, res, time.perf_counter() - t0


def _slab_results(jobs: list, workers: int) -> Iterator[tuple[int, SlabResult, float]]:
    """Slab results as they finish; the largest cells start first so the pool stays balanced."""
    jobs = sorted(jobs, key=lambda j: -len(j[2]))
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield _slab_job(job)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending = {pool.submit(_slab_job, j) for j in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()


# ----------------------------------------------------------------------------- batch processing


def _structure(row: dict):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(row["lattice"]), row["atomic_numbers"].tolist(), row["frac_coords"])


def _domain(predictor, cand: cand_mod.Candidate) -> tuple[bool, str]:
    from semcgcnn.model.predict import element_symbols

    _, out, verdict = predictor.applicability(element_symbols(cand.structure))
    return not out, verdict


def _predict(predictor, structures_by_id: dict, errors: list[dict]) -> pd.DataFrame:
    """Predictions for the batch's slabs; a slab the model cannot take becomes an error row."""
    if not structures_by_id:
        return pd.DataFrame(columns=SCHEMAS["predictions"].names)
    ids, structures = list(structures_by_id), list(structures_by_id.values())
    try:
        df = predictor.predict(structures, ids=ids, workers=1)
    except Exception:  # noqa: BLE001 - retry one by one to isolate the bad slab
        parts = []
        for sid, s in zip(ids, structures, strict=True):
            try:
                parts.append(predictor.predict([s], ids=[sid], workers=1))
            except Exception as exc:  # noqa: BLE001
                errors.append({"stage": "predictions", "id": sid, "reason": str(exc).splitlines()[0]})
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["structure_id"])
    return df.rename(columns={"structure_id": "slab_id"})


def process_batch(batch: list[tuple[int, cand_mod.Candidate, SlabResult]], predictor) -> dict[str, pd.DataFrame]:
    """Predictions, facets and Wulff rows of a batch of compounds whose slabs are cut."""
    compounds, slabs, facets, wulffs, errors = [], [], [], [], []
    structures = {r["slab_id"]: _structure(r) for _, _, res in batch for r in res.slabs}
    pred = _predict(predictor, structures, errors)
    pred_by_id = {r["slab_id"]: r for r in pred.to_dict("records")}
    pred_rows = []
    for _, cand, res in batch:
        in_domain, verdict = _domain(predictor, cand)
        compounds.append({
            "compound_id": cand.compound_id, "formula": cand.formula,
            "reduced_formula": cand.structure.composition.reduced_formula,
            "chemsys": cand.structure.composition.chemical_system, "X_element": cand.X_element,
            "X_category": cand.X_category, "source": cand.source, "n_atoms_bulk": cand.n_atoms,
            "Mg_fraction": cand.Mg_fraction, "spacegroup_symbol": res.spacegroup_symbol,
            "spacegroup_number": res.spacegroup_number, "n_miller": res.n_miller, "n_slabs": len(res.slabs),
            "n_slabs_lost": sum(e["stage"] == "slabs" and "termination" in e["reason"] for e in res.errors),
            "compound_in_domain": in_domain, "domain_reason": verdict,
        })
        errors.extend(res.errors)
        rows = []
        for r in res.slabs:
            slabs.append({k: v for k, v in r.items() if k not in ("lattice", "atomic_numbers", "frac_coords")}
                         | {"structure_json": structures[r["slab_id"]].to_json()})
            p = pred_by_id.get(r["slab_id"])
            if p is not None:
                rows.append({**{k: r[k] for k in ("slab_id", "compound_id", "miller_h", "miller_k", "miller_l",
                                                  "miller_index", "termination_index")}, **p})
        best = lowest_per_facet(rows)
        best_ids = {f.slab_id for f in best}
        for row in rows:
            row["is_facet_minimum"] = row["slab_id"] in best_ids
        pred_rows.extend(rows)
        wrow = {"compound_id": cand.compound_id, "formula": cand.formula, "n_facets": len(best),
                "n_facets_on_shape": 0, "compound_in_domain": in_domain, "domain_reason": verdict,
                "model_id": predictor.model_id}
        fractions = [0.0] * len(best)
        nan_cols = ("weighted_surface_energy_eV_per_A2", "weighted_surface_energy_J_per_m2",
                    "weighted_work_function_eV", "shape_factor", "anisotropy", "dominant_area_fraction")
        wrow.update(dict.fromkeys(nan_cols, math.nan), dominant_facet="")
        if best and res.lattice is not None:
            try:
                w = wulff(res.lattice, best)
                fractions = w.area_fractions
                top = int(np.argmax(fractions))
                wrow.update(
                    n_facets_on_shape=sum(a > 0 for a in fractions),
                    weighted_surface_energy_eV_per_A2=w.weighted_surface_energy_eV_per_A2,
                    weighted_surface_energy_J_per_m2=w.weighted_surface_energy_J_per_m2,
                    weighted_work_function_eV=w.weighted_work_function_eV, shape_factor=w.shape_factor,
                    anisotropy=w.anisotropy, dominant_facet="({} {} {})".format(*best[top].miller),
                    dominant_area_fraction=fractions[top])
            except ValueError as exc:
                errors.append({"stage": "wulff", "id": cand.compound_id, "reason": str(exc)})
        elif not best:
            errors.append({"stage": "wulff", "id": cand.compound_id, "reason": "no slab with a predicted surface energy"})
        for f, a in zip(best, fractions, strict=True):
            facets.append({
                "compound_id": cand.compound_id, "miller_h": f.miller[0], "miller_k": f.miller[1],
                "miller_l": f.miller[2], "miller_index": "({} {} {})".format(*f.miller), "slab_id": f.slab_id,
                "surface_energy_eV_per_A2": f.surface_energy_eV_per_A2,
                "surface_energy_J_per_m2": f.surface_energy_eV_per_A2 * EV_PER_A2_TO_J_PER_M2,
                "work_function_eV": f.work_function_eV, "area_fraction": a, "on_wulff_shape": a > 0,
            })
        wulffs.append(wrow)
    return {"compounds": pd.DataFrame(compounds), "slabs": pd.DataFrame(slabs), "predictions": pd.DataFrame(pred_rows),
            "facets": pd.DataFrame(facets), "wulff": pd.DataFrame(wulffs), "errors": pd.DataFrame(errors)}


# ----------------------------------------------------------------------------- parts on disk


def _frame(name: str, df: pd.DataFrame) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SCHEMAS[name].names})
    return df


def commit_part(out: Path, tables: dict[str, pd.DataFrame], compound_ids: list[str]) -> Path:
    """Write one batch as a part folder: temporary name first, then one atomic rename."""
    parts = out / PARTS
    tmp = parts / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir(parents=True)
    for name in TABLES:
        pq.write_table(to_table(name, _frame(name, tables.get(name, pd.DataFrame()))), tmp / f"{name}.parquet")
    (tmp / "done.json").write_text(json.dumps(compound_ids))
    final = parts / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    os.replace(tmp, final)
    return final


def committed_parts(out: Path) -> list[Path]:
    """Committed part folders; half-written temporary ones are removed."""
    parts = out / PARTS
    if not parts.is_dir():
        return []
    for tmp in parts.glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(p for p in parts.glob("part-*") if (p / "done.json").exists())


def done_compounds(out: Path) -> set[str]:
    return {cid for p in committed_parts(out) for cid in json.loads((p / "done.json").read_text())}


def assemble(out: Path, order: dict[str, int], candidate_errors: list[dict], meta: dict) -> dict[str, Path]:
    """Final tables from all parts, sorted by candidate order; each written atomically."""
    parts = committed_parts(out)
    paths = {}
    for name in TABLES:
        frames = [pq.read_table(p / f"{name}.parquet").to_pandas() for p in parts]
        if name == "errors":
            frames.insert(0, _frame("errors", pd.DataFrame(candidate_errors)))
        frames = [f for f in frames if not f.empty]
        df = pd.concat(frames, ignore_index=True) if frames else _frame(name, pd.DataFrame())
        if not df.empty and "compound_id" in df.columns:
            df = df.iloc[np.argsort(df["compound_id"].map(order).to_numpy(), kind="stable")]
        elif name == "errors" and not df.empty:
            rank = df["id"].map(order).fillna(-1).to_numpy()
            stage = df["stage"].map({"candidates": 0, "slabs": 1, "predictions": 2, "wulff": 3}).fillna(4).to_numpy()
            df = df.iloc[np.lexsort((rank, stage))]
        path = out / f"{name}.parquet"
        write_parquet(path, to_table(name, df.reset_index(drop=True)), meta)
        paths[name] = path
    return paths


# ----------------------------------------------------------------------------- the run


def _load_predictor(model: str | None):
    from semcgcnn.model.predict import load_pretrained

    try:
        return load_pretrained(model)
    except FileNotFoundError as exc:
        raise ScreenError(f"model checkpoint not found: {exc}") from None


def _check_manifest(out: Path, params: dict, model_id: str, resume: bool) -> None:
    path = out / MANIFEST
    if path.exists():
        if not resume:
            raise ScreenError(f"{out} already holds a screen; pass --resume to continue it or choose a new --out")
        old = json.loads(path.read_text())
        if old.get("parameters") != params or old.get("model_id") != model_id:
            raise ScreenError(f"{out} holds a screen with other parameters or model; use a new --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"parameters": params, "model_id": model_id}, indent=1))
        os.replace(tmp, path)


def run_screen(cfg: ScreenConfig, out: Path, workers: int = 0, resume: bool = False, batch_size: int = 8,
               reporter: Reporter | None = None) -> ScreenSummary:
    """Run (or resume) a screen into ``out``; returns counts, stage times and the table paths."""
    reporter = reporter or Reporter()
    out = Path(out)
    workers = workers or os.cpu_count() or 1
    t_start = time.perf_counter()
    seconds = {"candidates": 0.0, "slabs_wall": 0.0, "slabs_cpu": 0.0, "predictions": 0.0, "wulff_and_write": 0.0}

    try:
        cands, cand_errors, source = cand_mod.gather(cfg.source, Path(cfg.structures) if cfg.structures else None,
                                                     cfg.e_above_hull)
    except cand_mod.CandidateError as exc:
        raise ScreenError(str(exc)) from None
    kept = []
    for c in cands:
        reason = cand_mod.check(c.structure)
        if reason:
            cand_errors.append({"stage": "candidates", "id": c.compound_id, "reason": reason})
        else:
            kept.append(c)
    selected = cand_mod.select(kept, cfg.elements, cfg.max_atoms, cfg.limit)
    seconds["candidates"] = time.perf_counter() - t_start
    if not selected:
        if kept:
            raise ScreenError("no candidate structures to screen after the filters (--elements, --max-atoms)")
        first = cand_errors[0] if cand_errors else {"id": "-", "reason": "none found"}
        raise ScreenError(f"no candidate structures to screen: {len(cand_errors)} input(s) failed, "
                          f"e.g. {first['id']}: {first['reason']}")

    predictor = _load_predictor(cfg.model)
    params = cfg.parameters()
    _check_manifest(out, params, predictor.model_id, resume)
    meta = provenance(predictor.model_id, source, params)
    order = {c.compound_id: i for i, c in enumerate(selected)}
    done = done_compounds(out)
    todo = [c for c in selected if c.compound_id not in done]
    log.info("%d candidates (%d already done), %d input errors; %d workers", len(selected), len(done & set(order)),
             len(cand_errors), workers)

    reporter.start("slabs", len(selected))
    reporter.advance("slabs", len(selected) - len(todo))
    reporter.start("predictions+wulff", len(selected))
    reporter.advance("predictions+wulff", len(selected) - len(todo))
    by_index = {order[c.compound_id]: c for c in todo}
    jobs = [(order[c.compound_id], c.compound_id, c.structure, cfg.slab) for c in todo]
    buffer: list = []

    def flush() -> None:
        if not buffer:
            return
        t0 = time.perf_counter()
        tables = process_batch(buffer, predictor)
        seconds["predictions"] += time.perf_counter() - t0
        t1 = time.perf_counter()
        commit_part(out, tables, [c.compound_id for _, c, _ in buffer])
        seconds["wulff_and_write"] += time.perf_counter() - t1
        reporter.advance("predictions+wulff", len(buffer))
        buffer.clear()

    t_slabs = time.perf_counter()
    threads = _limit_torch_threads(1 if workers > 1 else None)
    try:
        for index, res, dt in _slab_results(jobs, workers):
            seconds["slabs_cpu"] += dt
            reporter.advance("slabs", 1)
            buffer.append((index, by_index[index], res))
            if len(buffer) >= batch_size:
                flush()
        seconds["slabs_wall"] = time.perf_counter() - t_slabs
        flush()
    finally:
        _limit_torch_threads(threads)

    t0 = time.perf_counter()
    paths = assemble(out, order, cand_errors, meta)
    seconds["assemble"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start
    n_slabs = pq.read_metadata(paths["slabs"]).num_rows
    n_errors = pq.read_metadata(paths["errors"]).num_rows
    n_compounds = pq.read_metadata(paths["compounds"]).num_rows
    return ScreenSummary(out, len(selected), n_compounds, n_slabs, n_errors, seconds, paths)


def _limit_torch_threads(n: int | None) -> int | None:
    """Set torch's thread count (returns the previous one); ``None`` leaves it as is."""
    if n is None:
        return None
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    return before


def with_slab(cfg: ScreenConfig, **slab_fields) -> ScreenConfig:
    """A copy of ``cfg`` with some slab parameters changed."""
    return replace(cfg, slab=replace(cfg.slab, **slab_fields))
