"""The shipped slab datasets as one training set: graphs, targets (NaN where a dataset lacks a
target, masked out of the loss), and per-row source, chemical system and elements."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import GraphConfig
from .data import GraphTensors
from .descriptors import element_descriptor_table

TASKS = ("surface_energy", "work_function")
SLAB_DATASETS = ("mg_binary_slabs", "elemental_slabs", "palizhati_slabs")


def load_slab_tensors(
    datasets: tuple[str, ...] = SLAB_DATASETS, graph_config: GraphConfig | None = None, descriptors: bool = False
) -> tuple[GraphTensors, pd.DataFrame]:
    """Graph tensors of the named slab datasets, concatenated, and a row table
    (``source``, ``structure_id``, ``chemsys``) in the same order."""
    from semcgcnn.datasets import TARGETS, labels

    from .graphs import GraphSet, dataset_graphs

    graph_config = graph_config or GraphConfig()
    sets, frames, ys = [], [], []
    for name in datasets:
        df = labels(name)
        gs, _ = dataset_graphs(name, graph_config)
        sets.append(gs)
        cols = [TARGETS[t].column for t in TASKS]
        ys.append(np.column_stack([df[c].to_numpy(float) if c in df else np.full(len(df), np.nan) for c in cols]))
        frames.append(pd.DataFrame({"source": name, "structure_id": df["structure_id"], "chemsys": df["chemsys"]}))
    table = element_descriptor_table() if descriptors else None
    data = GraphTensors(GraphSet.concat(sets), np.concatenate(ys), descriptors=table)
    return data, pd.concat(frames, ignore_index=True)


def element_symbols(data: GraphTensors, idx: np.ndarray | None = None) -> list[str]:
    """Sorted element symbols present in the rows ``idx`` (all rows by default)."""
    from pymatgen.core.periodic_table import Element

    z = data.atomic_numbers if idx is None else data.atomic_numbers_of(np.asarray(idx))
    return sorted(Element.from_Z(int(v)).symbol for v in np.unique(z))
