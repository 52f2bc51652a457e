"""Shared fixtures: real structures from the shipped datasets."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def elemental():
    from semcgcnn.datasets import load

    return {r.structure_id: r for r in load("elemental_slabs")}


@pytest.fixture(scope="session")
def mg_records():
    from semcgcnn.datasets import load

    return load("mg_binary_slabs")


@pytest.fixture(scope="session")
def mg_small():
    """GraphTensors of 160 real Mg slabs (every 20th), with both targets, and their systems."""
    import numpy as np

    from semcgcnn.datasets import labels
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.graphs import dataset_graphs

    df = labels("mg_binary_slabs")
    gs, _ = dataset_graphs("mg_binary_slabs")
    idx = np.arange(0, len(gs), 20)
    y = df[["surface_energy_eV_per_A2", "work_function_eV"]].to_numpy()[idx]
    return GraphTensors(gs.subset(idx), y), df["chemsys"].to_numpy()[idx]
