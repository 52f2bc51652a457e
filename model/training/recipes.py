"""How the paper's networks and the shipped model are trained: the Table-1 variants that
``semcgcnn train`` offers, the data recipes, their row splits, and :func:`train_shipped`.

The experiments that compare these choices (Table 1, the generalisation sweep) and their
reports are studies, not library: see ``studies/`` in the repository.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.model.checkpoint import SHIPPED_MODEL
from semcgcnn.model.config import GraphConfig, ModelConfig, TrainConfig
from semcgcnn.model.descriptors import descriptor_names

from .data import SLAB_DATASETS, TASKS, load_mg_tensors, load_slab_tensors, training_elements
from .extra_labels import SOURCE, ExtraLabels, held_out_overlap, load_extra_labels, with_extra_training_rows
from .splits import make_split
from .train import TrainResult, train

# The paper's Table-1 variants: name -> (list of task tuples (STL trains one model per task),
# surface flag, loss weighting).
VARIANTS: dict[str, tuple[list[tuple[str, ...]], bool, str]] = {
    "stl": ([("surface_energy",), ("work_function",)], False, "equal"),
    "mtl": ([TASKS], False, "equal"),
    "mtl-gradnorm": ([TASKS], False, "gradnorm"),
    "mtl-surface": ([TASKS], True, "equal"),
    "sem": ([TASKS], True, "gradnorm"),
}


@dataclass(frozen=True)
class Recipe:
    """One way of training: which data, which element descriptors."""

    name: str
    datasets: tuple[str, ...]
    descriptors: str  # "" (none) or a descriptors.DESCRIPTOR_SETS entry
    description: str

    def model_config(self, readout: str = "paper") -> ModelConfig:
        """The ``sem`` network (GradNorm is the training default) on this recipe's inputs, with
        ``readout`` (:data:`~semcgcnn.model.config.READOUTS`)."""
        return ModelConfig(
            tasks=TASKS,
            surface_flag=True,
            readout=readout,
            n_descriptors=len(descriptor_names(self.descriptors)) if self.descriptors else 0,
        )


SHIPPED_READOUT = "surface"
"""The shipped model's readout: thickness-invariant (see ``reports/readout.md`` for the comparison)."""

RECIPES = {
    r.name: r
    for r in (
        Recipe("mg", ("mg_binary_slabs",), "", "Mg–X slabs only (the paper's setting)"),
        Recipe(
            "mg+desc", ("mg_binary_slabs",), "elemental", "Mg–X slabs, atom features + element descriptors"
        ),
        Recipe("joint", SLAB_DATASETS, "", "Mg–X + elemental + Palizhati slabs (missing WF masked)"),
        Recipe("joint+desc", SLAB_DATASETS, "elemental", "joint data + element descriptors"),
        Recipe(
            "joint+desc+mp",
            SLAB_DATASETS,
            "imputed",
            "joint data + element descriptors, a missing elemental SE estimated from the melting point",
        ),
        Recipe(
            "joint+desc+mp+G",
            SLAB_DATASETS,
            "moduli",
            "joint+desc+mp + median shear modulus of X's Mg compounds (MP bulk elasticity data)",
        ),
    )
}


def split_rows(
    frame: pd.DataFrame, kind: str, seed: int, val_fraction: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) row indices of ``frame`` (the row table: ``source`` and ``chemsys``
    columns) for split ``kind``, reproducible from ``seed``. ``grouped``/``random``: Table 1's
    split of the Mg rows (test and validation are Mg rows only); other datasets' rows join
    training, minus those sharing a chemical system with a validation/test system. ``all``: no
    test, a random ``val_fraction`` of all rows for model selection. ``all-systems`` (the
    shipped model): no test; whole Mg–X systems holding about ``val_fraction`` of the Mg rows
    are the validation set, so the checkpoint is chosen for systems it never saw, as screening
    uses it.
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
        _, va, te = make_split(
            "grouped", len(mg), chemsys[mg], seed, fractions=(1 - val_fraction, val_fraction, 0.0)
        )
        tr = np.setdiff1d(np.arange(len(mg)), va)
    else:
        tr, va, te = make_split(kind, len(mg), chemsys[mg], seed)
    held = set(chemsys[mg[va]]) | set(chemsys[mg[te]]) if kind in ("grouped", "all-systems") else set()
    others = np.flatnonzero((frame["source"].to_numpy() != "mg_binary_slabs") & ~np.isin(chemsys, list(held)))
    return np.sort(np.concatenate([mg[tr], others])), mg[va], mg[te]


def readout_tag(readout: str) -> str:
    """What a result file name adds for ``readout``: ``""`` for the paper's, else e.g. ``-rosurface``
    (``RECIPE[-TAG]-seedN.json``, as the generalisation study names its results)."""
    return "" if readout == "paper" else f"-ro{readout}"


def recorded_evaluation(results_dir: Path, recipe: str, readout: str = "paper") -> dict:
    """Test metrics of ``recipe``'s experiment results in ``results_dir``
    (``EPOCHSep/SPLIT/RECIPE[-rosurface]-seedN.json``, as the generalisation study writes them) for the
    model with ``readout``, keyed ``SPLIT_EPOCHSep_seedN``: what a shipped model's card records as its
    evaluation. Other
    hyper-parameter variants (``RECIPE-TAG-seedN``) are not the recipe and are left out; a
    missing folder gives ``{}``."""
    evaluation = {}
    for p in sorted(Path(results_dir).glob(f"*ep/*/{recipe}{readout_tag(readout)}-seed*.json")):
        r = json.loads(p.read_text())
        if r.get("model_config", {}).get("readout", "paper") != readout:
            continue
        evaluation[f"{r['split']}_{r['train_config']['epochs']}ep_seed{r['seed']}"] = r["test"]
    return evaluation


def device_name(device: str) -> str:
    """What trained a model, for the record (timings depend on it)."""
    import os

    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({os.cpu_count()} cores)"


def train_shipped(
    recipe: str,
    train_cfg: TrainConfig,
    out: Path = SHIPPED_MODEL,
    runs_dir: Path | None = None,
    evaluation: dict | None = None,
    progress: bool = True,
    bundle: Path | None = None,
    validation: str = "all",
    readout: str = SHIPPED_READOUT,
    extra_labels: Sequence[Path] = (),
) -> Path:
    """Train the shipped model on ``recipe``'s data, holding out for model selection either
    whole Mg–X systems (``all-systems``, ≈ 10 % of the Mg slabs) or a random 10 % of rows
    (``all``), and save it as a safe checkpoint; return the JSON card path. ``evaluation``
    (test metrics measured elsewhere, by name) is copied into the card as given.
    ``extra_labels``: labels tables (``semcgcnn label``) whose rows join the training rows
    only (never model selection); the card records them."""
    from semcgcnn.datasets import DATASETS
    from semcgcnn.model.checkpoint import save_checkpoint
    from semcgcnn.paths import sha256_files

    r = RECIPES[recipe]
    gcfg = GraphConfig()
    labels = load_extra_labels(extra_labels, gcfg) if extra_labels else None
    data, frame = load_slab_tensors(r.datasets, gcfg, descriptors=r.descriptors, bundle=bundle, extra=labels)
    n_base = len(frame) - (len(labels) if labels else 0)
    idx = split_rows(frame.iloc[:n_base], validation, train_cfg.seed)
    if labels:
        idx = with_extra_training_rows(idx, n_base, len(labels))
    res = train(
        data,
        idx,
        r.model_config(readout),
        replace(train_cfg, split=validation),
        run_dir=runs_dir,
        progress=progress,
    )
    files = sorted(p for name in r.datasets for p in DATASETS[name].path.glob("*.*"))
    extra = {
        "recipe": recipe,
        "training_elements": training_elements(data, idx[0]),
        "training_systems": sorted(set(frame["chemsys"].to_numpy()[idx[0]])),
        "validation_systems": sorted(set(frame["chemsys"].to_numpy()[idx[1]]))
        if validation == "all-systems"
        else None,
        "best_epoch": res.best_epoch,
        "trained_on": device_name(train_cfg.device),
        "evaluation": evaluation or {},
    }
    if r.descriptors:
        extra["element_descriptors"] = {
            "names": list(descriptor_names(r.descriptors)),
            "set": r.descriptors,
            "table": data.descriptor_table.tolist(),
        }
    return save_checkpoint(
        out,
        res.model,
        gcfg,
        res.normalizer,
        replace(train_cfg, split=validation),
        training_data={
            "datasets": list(r.datasets),
            "sha256": sha256_files(files),
            "n_train_val": [int(len(idx[0])), int(len(idx[1]))],
            **_extra_card(labels, frame, idx),
        },
        metrics={k: v for k, v in res.metrics.items() if k != "test"},
        extra=extra,
    )


def _extra_card(
    extra: ExtraLabels | None, frame: pd.DataFrame, idx: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> dict:
    """What a card records of extra labels: each file (name, sha256, rows, exclusions), and the
    extra rows in validation/test systems (they joined training, so those metrics are optimistic)."""
    if not extra:
        return {}
    return {"extra_labels": extra.card(), "extra_labels_in_held_out_systems": held_out_overlap(frame, idx)}


def train_variant(
    out: Path,
    variant: str,
    train_cfg: TrainConfig,
    graph_config: GraphConfig | None = None,
    run_dir: Path | None = None,
    readout: str = "paper",
    extra_labels: Sequence[Path] = (),
) -> tuple[Path, TrainResult]:
    """Train one multi-task Table-1 ``variant`` on the shipped Mg slabs (split ``train_cfg.split``,
    seed ``train_cfg.seed``; the variant sets the loss weighting) and save a safe checkpoint at
    ``out``. ``extra_labels``: labels tables whose rows join the training rows only (the split of
    the Mg slabs is unchanged). Returns the card path and the training result (``semcgcnn train``)."""
    from semcgcnn.datasets import DATASETS
    from semcgcnn.model.checkpoint import save_checkpoint
    from semcgcnn.paths import sha256_files

    tasks, surface, weighting = VARIANTS[variant]
    if len(tasks) != 1:
        raise ValueError(f"{variant!r} trains one model per task; train_variant trains one multi-task model")
    graph_config = graph_config or GraphConfig()
    train_cfg = replace(train_cfg, weighting=weighting)
    labels = load_extra_labels(extra_labels, graph_config) if extra_labels else None
    data, groups = load_mg_tensors(graph_config, extra=labels)
    n_base = len(data) - (len(labels) if labels else 0)
    idx = make_split(train_cfg.split, n_base, groups[:n_base], train_cfg.seed)
    if labels:
        idx = with_extra_training_rows(idx, n_base, len(labels))
    res = train(
        data, idx, ModelConfig(tasks=TASKS, surface_flag=surface, readout=readout), train_cfg, run_dir=run_dir
    )
    spec = DATASETS["mg_binary_slabs"]
    card = save_checkpoint(
        Path(out),
        res.model,
        graph_config,
        res.normalizer,
        train_cfg,
        training_data={
            "datasets": ["mg_binary_slabs"],
            "sha256": sha256_files(sorted(spec.path.glob("*.*"))),
            "n_train_val_test": [len(i) for i in idx],
            **_extra_card(
                labels,
                pd.DataFrame(
                    {
                        "source": np.where(np.arange(len(data)) < n_base, "mg_binary_slabs", SOURCE),
                        "chemsys": groups,
                    }
                ),
                idx,
            ),
        },
        metrics=res.metrics,
        extra={"best_epoch": res.best_epoch, "history": res.history},
    )
    return card, res
