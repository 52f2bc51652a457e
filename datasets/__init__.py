"""Shipped real DFT datasets and their loader.

>>> from semcgcnn.datasets import load
>>> records = load("mg_binary_slabs")          # doctest: +SKIP
>>> records[0].structure_id, records[0].targets  # doctest: +SKIP

Each dataset folder carries its ``PROVENANCE.md`` (source, commit, licence, citation, units).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .registry import DATASETS, TARGETS, DatasetSpec, Target, get_spec
from .sources import read_labels, read_raw_structures, structure_files
from .structures import StructureArrays, cached_structures

__all__ = [
    "DATASETS",
    "TARGETS",
    "DatasetSpec",
    "Record",
    "Target",
    "get_spec",
    "labels",
    "load",
    "load_arrays",
]


@dataclass(frozen=True)
class Record:
    """One labelled structure of a shipped dataset."""

    structure_id: str
    structure: object  # pymatgen.core.Structure
    targets: dict[str, float]  # target name -> value (NaN where not labelled)
    chemsys: str
    source: str  # dataset name
    meta: dict = field(default_factory=dict)

    @property
    def units(self) -> dict[str, str]:
        return {name: TARGETS[name].unit for name in self.targets}


def labels(name: str, root: Path | None = None) -> pd.DataFrame:
    """Labels and metadata of a dataset (no structures; fast)."""
    spec = get_spec(name)
    return read_labels(spec, Path(root) if root else spec.path)


def load_arrays(
    name: str,
    root: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, StructureArrays]:
    """Labels plus structures as flat arrays, in the same row order; parsed once, then cached.

    ``name`` is the dataset's registry name; ``root`` the folder to read it from (default: the shipped
    copy); ``workers`` the number of parsing processes (see :func:`semcgcnn.parallel.n_workers`);
    ``progress`` is called with the number of structures parsed after each chunk.
    """
    spec = get_spec(name)
    root = Path(root) if root else spec.path
    df = read_labels(spec, root)
    arr, _ = cached_structures(
        f"{name}@{_root_tag(root, spec)}",
        structure_files(spec, root),
        lambda: read_raw_structures(spec, root),
        workers=workers,
        progress=progress,
    )
    order = {sid: i for i, sid in enumerate(arr.ids)}
    missing = [s for s in df["structure_id"] if s not in order]
    if missing:
        raise ValueError(f"{name}: {len(missing)} labelled ids have no structure, e.g. {missing[:3]}")
    return df, _take(arr, [order[s] for s in df["structure_id"]])


def load(
    name: str,
    root: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Record]:
    """All records of a shipped dataset, with pymatgen ``Structure`` objects.

    ``name``, ``root``, ``workers`` and ``progress`` are as in :func:`load_arrays`.
    """
    spec = get_spec(name)
    df, arr = load_arrays(name, root=root, workers=workers, progress=progress)
    structures = arr.to_structures()
    target_cols = {t: TARGETS[t].column for t in spec.targets}
    meta_cols = [c for c in df.columns if c not in ("structure_id", "chemsys", *target_cols.values())]
    out = []
    for row, s in zip(df.to_dict("records"), structures, strict=True):
        targets = {t: _float(row[c]) for t, c in target_cols.items()}
        out.append(
            Record(row["structure_id"], s, targets, row["chemsys"], name, {c: row[c] for c in meta_cols})
        )
    return out


def _float(x: object) -> float:
    return float("nan") if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _root_tag(root: Path, spec: DatasetSpec) -> str:
    """Cache namespace: shipped data share one name, other roots get their own."""
    if root.resolve() == spec.path.resolve():
        return "shipped"
    import hashlib

    return hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:8]


def _take(arr: StructureArrays, idx: list[int]) -> StructureArrays:
    import numpy as np

    if idx == list(range(len(arr))):
        return arr
    counts = np.diff(arr.atom_ptr)[idx]
    atom_idx = np.concatenate([np.arange(arr.atom_ptr[i], arr.atom_ptr[i + 1]) for i in idx])
    return StructureArrays(
        ids=[arr.ids[i] for i in idx],
        lattices=arr.lattices[idx],
        atomic_numbers=arr.atomic_numbers[atom_idx],
        frac_coords=arr.frac_coords[atom_idx],
        atom_ptr=np.concatenate([[0], np.cumsum(counts)]),
    )
