"""The shipped slab datasets as one training set: graphs, targets (NaN where a dataset lacks a
target, masked out of the loss), and per-row source, chemical system and elements.

A *training bundle* is the same set saved as one compressed ``.npz`` (graphs, targets, row
table, element descriptors): what training needs on a machine with neither pymatgen nor the
dataset cache, e.g. a lent GPU machine (``semcgcnn bundle``, then ``--graphs``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from semcgcnn.model.config import GraphConfig
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.descriptors import DESCRIPTOR_SETS, element_descriptor_table

from .extra_labels import ExtraLabels

if TYPE_CHECKING:
    from semcgcnn.model.graphs import GraphSet

TASKS = ("surface_energy", "work_function")
SLAB_DATASETS = ("mg_binary_slabs", "elemental_slabs", "palizhati_slabs")


def load_slab_tensors(
    datasets: tuple[str, ...] = SLAB_DATASETS,
    graph_config: GraphConfig | None = None,
    descriptors: str = "",
    bundle: Path | None = None,
    extra: ExtraLabels | None = None,
) -> tuple[GraphTensors, pd.DataFrame]:
    """Graph tensors of the named slab datasets, concatenated, and a row table
    (``source``, ``structure_id``, ``chemsys``) in the same order. ``descriptors``: "" (none)
    or one of :data:`~semcgcnn.model.descriptors.DESCRIPTOR_SETS`, appended to the atom
    features. Read from ``bundle`` (see :func:`save_training_bundle`) when given. ``extra``:
    new labels (:func:`~semcgcnn.model.training.extra_labels.load_extra_labels`, featurized with the same
    graph config) appended after the datasets' rows (``source`` ``"extra_labels"``)."""
    graph_config = graph_config or GraphConfig()
    if bundle is not None:
        gs, y, frame, tables = _load_bundle(Path(bundle), datasets, graph_config)
        if descriptors and descriptors not in tables:
            raise ValueError(
                f"{bundle} predates descriptor set {descriptors!r}: rebuild it with `semcgcnn bundle`"
            )
        table = tables[descriptors] if descriptors else None
    else:
        gs, y, frame = slab_graphs(datasets, graph_config)
        table = element_descriptor_table(descriptors) if descriptors else None
    if extra is not None:
        gs, y, frame = _with_extra(gs, y, frame, extra, graph_config)
    return GraphTensors(gs, y, descriptors=table), frame


def _with_extra(
    gs: GraphSet, y: np.ndarray, frame: pd.DataFrame, extra: ExtraLabels, graph_config: GraphConfig
):
    """Graphs, targets and row table with ``extra``'s rows appended."""
    from dataclasses import replace

    from semcgcnn.model.graphs import GraphSet

    if extra.graphs.config.key() != graph_config.key():
        raise ValueError(f"extra labels were featurized with another graph config ({extra.graphs.config})")
    extra_graphs = replace(
        extra.graphs, config=gs.config
    )  # same graphs (the keys agree); search_radius may differ
    clash = set(extra.frame["structure_id"]) & set(frame["structure_id"])
    if clash:
        raise ValueError(f"extra label structure_id {sorted(clash)[0]!r} is also a training row's id")
    return (
        GraphSet.concat([gs, extra_graphs]),
        np.concatenate([y, extra.y]),
        pd.concat([frame, extra.frame], ignore_index=True),
    )


def load_mg_tensors(
    graph_config: GraphConfig | None = None, extra: ExtraLabels | None = None
) -> tuple[GraphTensors, np.ndarray]:
    """Graph tensors, targets and chemical systems of the 3218 shipped Mg slabs (the paper's data),
    plus ``extra`` labels appended after them."""
    from semcgcnn.datasets import TARGETS, labels
    from semcgcnn.model.graphs import dataset_graphs

    df = labels("mg_binary_slabs")
    graph_config = graph_config or GraphConfig()
    gs, _ = dataset_graphs("mg_binary_slabs", graph_config)
    y = df[[TARGETS[t].column for t in TASKS]].to_numpy()
    frame = pd.DataFrame(
        {"source": "mg_binary_slabs", "structure_id": df["structure_id"], "chemsys": df["chemsys"]}
    )
    if extra is not None:
        gs, y, frame = _with_extra(gs, y, frame, extra, graph_config)
    return GraphTensors(gs, y), frame["chemsys"].to_numpy()


def slab_graphs(
    datasets: tuple[str, ...], graph_config: GraphConfig
) -> tuple[GraphSet, np.ndarray, pd.DataFrame]:
    """The graphs, targets and row table of shipped slab datasets, concatenated in order.

    Args:
        datasets: names of shipped slab datasets (see :data:`SLAB_DATASETS`).
        graph_config: how the slabs are featurized (graphs cached per config).

    Returns:
        ``(graphs, y, frame)``: the :class:`~semcgcnn.model.graphs.GraphSet`, the (n, 2) targets in
        :data:`TASKS` order (NaN where a dataset lacks a target) and the row table (``source``,
        ``structure_id``, ``chemsys``).
    """
    from semcgcnn.datasets import TARGETS, labels
    from semcgcnn.model.graphs import GraphSet, dataset_graphs

    sets, frames, ys = [], [], []
    for name in datasets:
        df = labels(name)
        gs, _ = dataset_graphs(name, graph_config)
        sets.append(gs)
        cols = [TARGETS[t].column for t in TASKS]
        ys.append(
            np.column_stack([df[c].to_numpy(float) if c in df else np.full(len(df), np.nan) for c in cols])
        )
        frames.append(
            pd.DataFrame({"source": name, "structure_id": df["structure_id"], "chemsys": df["chemsys"]})
        )
    return GraphSet.concat(sets), np.concatenate(ys), pd.concat(frames, ignore_index=True)


def save_training_bundle(path: Path, graph_config: GraphConfig | None = None) -> Path:
    """All shipped slab datasets as one compressed training bundle (≈ 8 MB)."""
    from semcgcnn.paths import atomic_write_bytes

    graph_config = graph_config or GraphConfig()
    gs, y, frame = slab_graphs(SLAB_DATASETS, graph_config)
    if gs.nbr_idx.max() >= np.iinfo(np.int16).max:
        raise ValueError("a slab has more atoms than the bundle's int16 neighbour indices hold")
    arrays = {
        "atom_ptr": gs.atom_ptr,
        "atomic_numbers": gs.atomic_numbers.astype(np.int16),
        "side": gs.side,
        "area": gs.area,
        "nbr_idx": gs.nbr_idx.astype(np.int16),
        "nbr_dist": gs.nbr_dist.astype(np.float32),  # training reads float32
        "nbr_weight": gs.nbr_weight,
        "y": y,
        **{f"descriptors_{k}": element_descriptor_table(k) for k in DESCRIPTOR_SETS},
        **{c: frame[c].to_numpy(str) for c in ("source", "structure_id", "chemsys")},
        "graph_config": np.array(json.dumps(graph_config.to_dict())),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    atomic_write_bytes(path, write)
    return path


def _load_bundle(path: Path, datasets: tuple[str, ...], graph_config: GraphConfig):
    from semcgcnn.model.graphs import GraphSet

    with np.load(path, allow_pickle=False) as z:
        saved = GraphConfig.from_dict(json.loads(str(z["graph_config"])))
        if saved.key() != graph_config.key():
            raise ValueError(f"{path} holds graphs of another graph config ({saved})")
        frame = pd.DataFrame({c: z[c] for c in ("source", "structure_id", "chemsys")})
        missing = sorted(set(datasets) - set(frame["source"]))
        if missing:
            raise ValueError(f"{path} lacks dataset(s) {missing}")
        # rows in the order of ``datasets``, as when read from the datasets themselves
        rows = np.concatenate([np.flatnonzero(frame["source"].to_numpy() == d) for d in datasets])
        if "side" not in z or "nbr_weight" not in z:
            raise ValueError(
                f"{path} predates the order-invariant graph (no edge weights): "
                "rebuild it with `semcgcnn bundle`"
            )
        gs = GraphSet(
            ids=list(frame["structure_id"]),
            atom_ptr=z["atom_ptr"],
            atomic_numbers=z["atomic_numbers"],
            side=z["side"],
            nbr_idx=z["nbr_idx"].astype(np.int32),
            nbr_dist=z["nbr_dist"],
            nbr_weight=z["nbr_weight"],
            area=z["area"],
            config=saved,
        ).subset(rows)
        tables = {k: z[f"descriptors_{k}"] for k in DESCRIPTOR_SETS if f"descriptors_{k}" in z}
        return gs, z["y"][rows], frame.iloc[rows].reset_index(drop=True), tables


def training_elements(data: GraphTensors, idx: np.ndarray | None = None) -> list[str]:
    """Sorted element symbols present in the graph rows ``idx`` (all rows by default): the
    elements a model trained on those rows has seen (the card's ``training_elements``)."""
    from semcgcnn.model.atom_features import ELEMENT_SYMBOLS

    z = data.atomic_numbers if idx is None else data.atomic_numbers_of(np.asarray(idx))
    return sorted(ELEMENT_SYMBOLS[int(v)] for v in np.unique(z))
