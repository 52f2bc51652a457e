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
