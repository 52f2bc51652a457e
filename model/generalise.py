"""Generalisation to unseen Mg–X systems: the experiments behind the shipped model, and its training.

Every experiment is judged first on a grouped split: the validation and test Mg–X systems are
those of Table 1's grouped split (same seed, same systems), and rows of the other datasets
with the same chemical system are dropped from training, so a test system is truly unseen.
The other slab datasets (elemental metals, Palizhati intermetallics) go into training whole.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .checkpoint import SHIPPED_MODEL
from .config import GraphConfig, ModelConfig, TrainConfig
from .descriptors import descriptor_names
from .metrics import regression_metrics
from .splits import make_split
from .train import predict, train
from .training_data import SLAB_DATASETS, TASKS, element_symbols, load_slab_tensors

log = logging.getLogger(__name__)

"""Stem of the shipped checkpoint (``.safetensors`` + ``.json``)."""


@dataclass(frozen=True)
class Recipe:
    """One way of training: which data, which element descriptors."""

    name: str
    datasets: tuple[str, ...]
    descriptors: str  # "" (none) or a descriptors.DESCRIPTOR_SETS entry
    description: str

    def model_config(self) -> ModelConfig:
        """The ``sem`` network (GradNorm is the training default) on this recipe's inputs."""
        return ModelConfig(tasks=TASKS, surface_flag=True, n_descriptors=len(descriptor_names(self.descriptors)) if self.descriptors else 0)


RECIPES = {
    r.name: r
    for r in (
        Recipe("mg", ("mg_binary_slabs",), "", "Mg–X slabs only (the paper's setting)"),
        Recipe("mg+desc", ("mg_binary_slabs",), "elemental", "Mg–X slabs, atom features + element descriptors"),
        Recipe("joint", SLAB_DATASETS, "", "Mg–X + elemental + Palizhati slabs (missing WF masked)"),
        Recipe("joint+desc", SLAB_DATASETS, "elemental", "joint data + element descriptors"),
        Recipe("joint+desc+mp", SLAB_DATASETS, "imputed",
               "joint data + element descriptors, a missing elemental SE estimated from the melting point"),
        Recipe("joint+desc+mp+G", SLAB_DATASETS, "moduli",
               "joint+desc+mp + median shear modulus of X's Mg compounds (MP bulk elasticity data)"),
    )
}


def split_rows(frame: pd.DataFrame, kind: str, seed: int, val_fraction: float = 0.1):
    """(train, val, test) row indices. ``grouped``/``random``: Table 1's split of the Mg rows
    (test and validation are Mg rows only); other datasets' rows join training, minus those
    sharing a chemical system with a validation/test system. ``all``: no test, a random
    ``val_fraction`` of all rows for model selection. ``all-systems`` (the shipped model): no
    test; whole Mg–X systems holding about ``val_fraction`` of the Mg rows are the validation
    set, so the checkpoint is chosen for systems it never saw, as screening uses it.
    ``grouped-randval``: the grouped test systems, but validation is a random ``val_fraction``
    of all other rows, as the shipped model (``all``) is selected: the unbiased estimate of that
    procedure on unseen systems."""
    n = len(frame)
    if kind == "grouped-randval":
        te = split_rows(frame, "grouped", seed)[2]
        chemsys = frame["chemsys"].to_numpy()
        pool = np.flatnonzero(~np.isin(chemsys, list(set(chemsys[te]))))  # every row of a non-test system
        perm = np.random.default_rng(seed).permutation(pool)
        k = int(round(val_fraction * len(pool)))
        return np.sort(perm[k:]), np.sort(perm[:k]), te
    if kind == "all":
        perm = np.random.default_rng(seed).permutation(n)
        k = int(round(val_fraction * n))
        return np.sort(perm[k:]), np.sort(perm[:k]), np.zeros(0, dtype=np.int64)
    mg = np.flatnonzero(frame["source"].to_numpy() == "mg_binary_slabs")
    chemsys = frame["chemsys"].to_numpy()
    if kind == "all-systems":
        _, va, te = make_split("grouped", len(mg), chemsys[mg], seed, fractions=(1 - val_fraction, val_fraction, 0.0))
        tr = np.setdiff1d(np.arange(len(mg)), va)
    else:
        tr, va, te = make_split(kind, len(mg), chemsys[mg], seed)
    held = set(chemsys[mg[va]]) | set(chemsys[mg[te]]) if kind in ("grouped", "all-systems") else set()
    others = np.flatnonzero((frame["source"].to_numpy() != "mg_binary_slabs") & ~np.isin(chemsys, list(held)))
    return np.sort(np.concatenate([mg[tr], others])), mg[va], mg[te]


def per_system_errors(frame: pd.DataFrame, idx: np.ndarray, y: np.ndarray, pred: np.ndarray) -> list[dict]:
    """MAE and mean signed error per chemical system of the rows ``idx``."""
    out = []
    chemsys = frame["chemsys"].to_numpy()[idx]
    for sysname in sorted(set(chemsys)):
        m = chemsys == sysname
        row = {"chemsys": sysname, "n_slabs": int(m.sum())}
        for k, t in enumerate(TASKS):
            e = pred[m, k] - y[m, k]
            e = e[np.isfinite(e)]
            row[f"{t}_mae"] = float(np.abs(e).mean()) if len(e) else float("nan")
            row[f"{t}_bias"] = float(e.mean()) if len(e) else float("nan")
        out.append(row)
    return out


def variant_tag(train_cfg: TrainConfig, model_cfg: ModelConfig, graph_config: GraphConfig) -> str:
    """``""`` for the paper's hyper-parameters, else e.g. ``-bs32-lr0.0005-h64-sd3-spool`` (what differs)."""
    ref_t, ref_m, ref_g = TrainConfig(), ModelConfig(), GraphConfig()
    parts = [f"bs{train_cfg.batch_size}" if train_cfg.batch_size != ref_t.batch_size else "",
             f"lr{train_cfg.lr:g}" if train_cfg.lr != ref_t.lr else "",
             f"h{model_cfg.h_fea_len}" if model_cfg.h_fea_len != ref_m.h_fea_len else "",
             f"sd{graph_config.surface_depth:g}" if graph_config.surface_depth != ref_g.surface_depth else "",
             "spool" if model_cfg.surface_pool else ""]
    return "".join(f"-{p}" for p in parts if p)


def run_experiment(recipe: str, split: str, train_cfg: TrainConfig, results_dir: Path, runs_dir: Path,
                   graph_config: GraphConfig | None = None, progress: bool = True, bundle: Path | None = None,
                   model_overrides: dict | None = None) -> dict:
    """Train ``recipe`` (``sem``: GradNorm + surface flag) on ``split``; test-set metrics and
    per-system errors written to ``results_dir`` (skipped when already there). ``bundle``: read
    the graphs from a training bundle (:func:`~semcgcnn.model.training_data.save_training_bundle`).
    ``model_overrides`` (e.g. ``{"h_fea_len": 64}``), ``graph_config.surface_depth``,
    ``train_cfg.batch_size``/``lr``: hyper-parameter variants, named in the result file
    (:func:`variant_tag`)."""
    r = RECIPES[recipe]
    graph_config = graph_config or GraphConfig()
    model_cfg = replace(r.model_config(), **(model_overrides or {}))
    tag = variant_tag(train_cfg, model_cfg, graph_config)
    out = Path(results_dir) / f"{train_cfg.epochs}ep" / split / f"{recipe}{tag}-seed{train_cfg.seed}.json"
    if out.exists():
        return json.loads(out.read_text())
    data, frame = load_slab_tensors(r.datasets, graph_config, descriptors=r.descriptors, bundle=bundle)
    idx = split_rows(frame, split, train_cfg.seed)
    cfg = replace(train_cfg, split=split)
    t0 = time.perf_counter()
    res = train(data, idx, model_cfg, cfg, run_dir=Path(runs_dir) / out.relative_to(results_dir).with_suffix(""),
                progress=progress)
    test = idx[2]
    pred = predict(res.model, data, test, res.normalizer)
    y = data.y[test].double().numpy()
    result = {
        "recipe": recipe, "description": r.description, "split": split, "seed": train_cfg.seed,
        "variant": tag, "model_config": model_cfg.to_dict(), "graph_config": graph_config.to_dict(),
        "train_config": cfg.to_dict(), "n_train_val_test": [int(len(i)) for i in idx],
        "test": {t: regression_metrics(y[:, k], pred[:, k]) for k, t in enumerate(TASKS)},
        "test_systems": sorted(set(frame["chemsys"].to_numpy()[test])) if split.startswith("grouped") else None,
        "per_system": per_system_errors(frame, test, y, pred) if split.startswith("grouped") else None,
        "best_epoch": res.best_epoch, "epoch_s": res.epoch_s, "wall_s": time.perf_counter() - t0,
        "device": _device_name(cfg.device),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    log.info("%s / %s: SE MAE %.4f eV/Å², WF MAE %.3f eV", recipe, split,
             result["test"]["surface_energy"]["mae"], result["test"]["work_function"]["mae"])
    return result


def _device_name(device: str) -> str:
    """What trained a model, for the record (timings depend on it)."""
    import os

    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({os.cpu_count()} cores)"


def train_shipped(recipe: str, train_cfg: TrainConfig, out: Path = SHIPPED_MODEL, runs_dir: Path | None = None,
                  evaluation: dict | None = None, progress: bool = True, bundle: Path | None = None,
                  validation: str = "all") -> Path:
    """Train the shipped model on ``recipe``'s data, holding out for model selection either
    whole Mg–X systems (``all-systems``, ≈ 10 % of the Mg slabs) or a random 10 % of rows
    (``all``), and save it as a safe checkpoint; return the JSON card path."""
    from semcgcnn.datasets import DATASETS
    from semcgcnn.paths import sha256_files

    from .checkpoint import save_checkpoint

    r = RECIPES[recipe]
    gcfg = GraphConfig()
    data, frame = load_slab_tensors(r.datasets, gcfg, descriptors=r.descriptors, bundle=bundle)
    idx = split_rows(frame, validation, train_cfg.seed)
    res = train(data, idx, r.model_config(), replace(train_cfg, split=validation), run_dir=runs_dir, progress=progress)
    files = sorted(p for name in r.datasets for p in DATASETS[name].path.glob("*.*"))
    extra = {
        "recipe": recipe,
        "training_elements": element_symbols(data, idx[0]),
        "training_systems": sorted(set(frame["chemsys"].to_numpy()[idx[0]])),
        "validation_systems": sorted(set(frame["chemsys"].to_numpy()[idx[1]])) if validation == "all-systems" else None,
        "best_epoch": res.best_epoch,
        "trained_on": _device_name(train_cfg.device),
        "evaluation": evaluation or {},
    }
    if r.descriptors:
        extra["element_descriptors"] = {"names": list(descriptor_names(r.descriptors)), "set": r.descriptors,
                                        "table": data.descriptor_table.tolist()}
    return save_checkpoint(
        out, res.model, gcfg, res.normalizer, replace(train_cfg, split=validation),
        training_data={"datasets": list(r.datasets), "sha256": sha256_files(files),
                       "n_train_val": [int(len(idx[0])), int(len(idx[1]))]},
        metrics={k: v for k, v in res.metrics.items() if k != "test"}, extra=extra,
    )
