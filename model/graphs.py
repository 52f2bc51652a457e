"""Many crystal graphs at once: parallel featurization, an on-disk cache, and batching.

A :class:`GraphSet` stores graphs in CSR layout (concatenated atoms with offsets) and saves
to a plain ``.npz`` (loaded with ``allow_pickle=False``); :mod:`semcgcnn.model.data` turns it
into disjoint-union batches with a per-atom ``batch`` index for scatter pooling.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.parallel import map_chunks
from semcgcnn.paths import atomic_write_bytes, cache_dir
from semcgcnn.validation import check_structure

from .atom_features import atom_table_hash
from .config import GraphConfig
from .featurize import CrystalGraph, featurize_arrays

if TYPE_CHECKING:
    from pymatgen.core import Structure

log = logging.getLogger(__name__)

FEATURIZER_VERSION = "3"  # 2: per-atom surface side and per-graph face area; 3: tied shells, edge weights


@dataclass
class GraphSet:
    """Graphs of many structures, concatenated over atoms."""

    ids: list[str]
    atom_ptr: np.ndarray  # (n + 1,)
    atomic_numbers: np.ndarray  # (A,)
    side: np.ndarray  # (A,) uint8, BOTTOM/TOP bits (featurize.surface_sides)
    nbr_idx: np.ndarray  # (A, M) local (per-structure) indices
    nbr_dist: np.ndarray  # (A, M) Å
    nbr_weight: np.ndarray  # (A, M) float32, 0 for padding (featurize: tied shells share weight)
    area: np.ndarray  # (n,) Å², one face per graph
    config: GraphConfig

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def surface(self) -> np.ndarray:
        """(A,) bool: the paper's surface flag."""
        return self.side > 0

    @property
    def n_atoms(self) -> np.ndarray:
        return np.diff(self.atom_ptr)

    def __getitem__(self, i: int) -> CrystalGraph:
        a, b = self.atom_ptr[i], self.atom_ptr[i + 1]
        return CrystalGraph(
            self.atomic_numbers[a:b],
            self.side[a:b],
            self.nbr_idx[a:b],
            self.nbr_dist[a:b],
            self.nbr_weight[a:b],
            float(self.area[i]),
        )

    @classmethod
    def from_graphs(cls, ids: list[str], graphs: list[CrystalGraph], config: GraphConfig) -> GraphSet:
        counts = np.array([len(g) for g in graphs], dtype=np.int64)
        width = max((g.nbr_idx.shape[1] for g in graphs), default=1)
        tables = [padded_neighbors(g.nbr_idx, g.nbr_dist, g.nbr_weight, width, config) for g in graphs]

        def cat(xs: list, dt: type, shape: tuple) -> np.ndarray:
            return np.concatenate(xs).astype(dt) if xs else np.zeros(shape, dt)

        return cls(
            ids=list(ids),
            atom_ptr=np.concatenate([[0], np.cumsum(counts)]),
            atomic_numbers=cat([g.atomic_numbers for g in graphs], np.int16, (0,)),
            side=cat([g.side for g in graphs], np.uint8, (0,)),
            nbr_idx=cat([t[0] for t in tables], np.int32, (0, width)),
            nbr_dist=cat([t[1] for t in tables], np.float64, (0, width)),
            nbr_weight=cat([t[2] for t in tables], np.float32, (0, width)),
            area=np.array([g.area for g in graphs], dtype=np.float64),
            config=config,
        )

    @classmethod
    def concat(cls, sets: list[GraphSet]) -> GraphSet:
        """One set holding ``sets`` one after the other (same graph config required; neighbour
        tables padded to the widest)."""
        if any(s.config != sets[0].config for s in sets):
            raise ValueError("cannot concatenate graph sets built with different configs")
        counts = np.concatenate([s.n_atoms for s in sets])
        width = max(s.nbr_idx.shape[1] for s in sets)
        tables = [s.padded(width) for s in sets]
        return cls(
            ids=[i for s in sets for i in s.ids],
            atom_ptr=np.concatenate([[0], np.cumsum(counts)]),
            atomic_numbers=np.concatenate([s.atomic_numbers for s in sets]),
            side=np.concatenate([s.side for s in sets]),
            nbr_idx=np.concatenate([t[0] for t in tables]),
            nbr_dist=np.concatenate([t[1] for t in tables]),
            nbr_weight=np.concatenate([t[2] for t in tables]),
            area=np.concatenate([s.area for s in sets]),
            config=sets[0].config,
        )

    def padded(self, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(nbr_idx, nbr_dist, nbr_weight)`` widened to ``width`` columns with padding (each
        atom pointing at itself, weight 0).

        Args:
            width: columns wanted (at least the current width).
        """
        local = np.arange(len(self.atomic_numbers)) - np.repeat(self.atom_ptr[:-1], self.n_atoms)
        return padded_neighbors(self.nbr_idx, self.nbr_dist, self.nbr_weight, width, self.config, local)

    def subset(self, idx: np.ndarray | Sequence[int]) -> GraphSet:
        """The graphs at positions ``idx`` (in that order), as a new set.

        Args:
            idx: positions of the graphs to keep.
        """
        idx = np.asarray(idx, dtype=np.int64)
        atoms = concat_ranges(self.atom_ptr[idx], self.atom_ptr[idx + 1])
        return GraphSet(
            ids=[self.ids[i] for i in idx],
            atom_ptr=np.concatenate([[0], np.cumsum(self.n_atoms[idx])]),
            atomic_numbers=self.atomic_numbers[atoms],
            side=self.side[atoms],
            nbr_idx=self.nbr_idx[atoms],
            nbr_dist=self.nbr_dist[atoms],
            nbr_weight=self.nbr_weight[atoms],
            area=self.area[idx],
            config=self.config,
        )

    # ---- persistence (numpy only, never pickle) ----
    def save(self, path: Path) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    ids=np.array(self.ids, dtype=str),
                    atom_ptr=self.atom_ptr,
                    atomic_numbers=self.atomic_numbers,
                    side=self.side,
                    nbr_idx=self.nbr_idx,
                    nbr_dist=self.nbr_dist,
                    nbr_weight=self.nbr_weight,
                    area=self.area,
                    config=np.array(json.dumps(self.config.to_dict())),
                )

        atomic_write_bytes(Path(path), write)

    @classmethod
    def load(cls, path: Path) -> GraphSet:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                ids=z["ids"].tolist(),
                atom_ptr=z["atom_ptr"],
                atomic_numbers=z["atomic_numbers"],
                side=z["side"],
                nbr_idx=z["nbr_idx"],
                nbr_dist=z["nbr_dist"],
                nbr_weight=z["nbr_weight"],
                area=z["area"],
                config=GraphConfig.from_dict(json.loads(str(z["config"]))),
            )


def padded_neighbors(
    idx: np.ndarray,
    dist: np.ndarray,
    weight: np.ndarray,
    width: int,
    config: GraphConfig,
    self_index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A neighbour table widened to ``width`` columns: padding points at the atom itself
    (``self_index``, default its row) at the pad distance, with weight 0, so it adds nothing.

    Args:
        idx, dist, weight: (N, M) neighbour indices, distances (Å) and weights.
        width: columns wanted (≥ M).
        config: the graph config (its pad distance).
        self_index: (N,) each row's own local atom index (default ``arange(N)``).
    """
    n, m = idx.shape
    if m == width:
        return idx, dist, weight
    me = np.arange(n) if self_index is None else self_index
    extra = width - m
    return (
        np.concatenate([idx, np.repeat(me[:, None], extra, axis=1).astype(idx.dtype)], axis=1),
        np.concatenate([dist, np.full((n, extra), config.pad_distance, dist.dtype)], axis=1),
        np.concatenate([weight, np.zeros((n, extra), weight.dtype)], axis=1),
    )


def concat_ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for every pair, vectorised: e.g. the atom rows of a
    selection of graphs from their CSR offsets.

    Args:
        starts: first index of each range.
        stops: one past the last index of each range (same length as ``starts``).
    """
    lens = stops - starts
    if lens.sum() == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return np.arange(lens.sum()) + offs


# ---- parallel featurization ----
def _featurize_chunk(args: tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray], dict]):
    lattices, fracs, zs, config_dict = args
    config = GraphConfig.from_dict(config_dict)
    return [featurize_arrays(lat, f, z, config) for lat, f, z in zip(lattices, fracs, zs, strict=True)]


def featurize_many(
    lattices: Sequence[np.ndarray],
    fracs: Sequence[np.ndarray],
    atomic_numbers: Sequence[np.ndarray],
    ids: list[str],
    config: GraphConfig,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> GraphSet:
    """Featurize many structures (given as arrays), in parallel over ``workers`` processes.

    Small jobs run in-process: below a few hundred structures a process pool costs more than
    it saves.

    Args:
        lattices: (3, 3) lattice rows (Å) of each structure.
        fracs: (n, 3) fractional coordinates of each structure.
        atomic_numbers: (n,) atomic numbers of each structure.
        ids: one id per structure.
        config: how graphs are built.
        workers: processes to use (default: every CPU).
        progress: called with the number of structures done after each chunk.
    """
    n = len(ids)
    workers = workers or os.cpu_count() or 1
    size = max(32, min(256, n // (4 * workers) or 1))
    chunks = [
        (lattices[i : i + size], fracs[i : i + size], atomic_numbers[i : i + size], config.to_dict())
        for i in range(0, n, size)
    ]
    graphs = map_chunks(_featurize_chunk, chunks, workers=workers, parallel=n >= 400, progress=progress)
    return GraphSet.from_graphs(ids, graphs, config)


def featurize_structures(
    structures: Sequence[Structure],
    ids: list[str] | None = None,
    config: GraphConfig | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> GraphSet:
    """Featurize pymatgen structures (in parallel for large lists).

    Args:
        structures: the structures, each checked first.
        ids: one id per structure (default: their positions).
        config: how graphs are built (default: the paper's).
        workers: processes to use (default: every CPU).
        progress: called with the number of structures done after each chunk.
    """
    config = config or GraphConfig()
    ids = ids if ids is not None else [str(i) for i in range(len(structures))]
    for s, sid in zip(structures, ids, strict=True):
        check_structure(s, sid)
    return featurize_many(
        [s.lattice.matrix for s in structures],
        [s.frac_coords for s in structures],
        [np.asarray(s.atomic_numbers) for s in structures],
        ids,
        config,
        workers=workers,
        progress=progress,
    )


def dataset_graphs(
    name: str,
    config: GraphConfig | None = None,
    root: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[GraphSet, bool]:
    """Graphs of a shipped dataset, cached on disk per (structures, config, atom table).

    Returns the graph set (rows in the dataset's label order) and whether it came from the cache.

    Args:
        name: the dataset's name.
        config: how graphs are built (default: the paper's).
        root: the dataset's folder (default: the shipped one).
        workers: processes to use for reading and featurizing (default: every CPU).
        progress: called with the number of structures done after each chunk.
    """
    from semcgcnn.datasets import get_spec, load_arrays
    from semcgcnn.datasets.sources import structure_files
    from semcgcnn.datasets.structures import structure_cache_key

    config = config or GraphConfig()
    spec = get_spec(name)
    root = Path(root) if root else spec.path
    skey = structure_cache_key(name, structure_files(spec, root))
    key = f"{name}-{skey}-{config.key()}-{atom_table_hash()}-v{FEATURIZER_VERSION}"
    path = cache_dir("graphs") / f"{key}.npz"
    df, arr = load_arrays(name, root=root, workers=workers)
    if path.exists():
        gs = GraphSet.load(path)
        if gs.ids == list(df["structure_id"]):
            return gs, True
    log.info("featurizing %s (%d structures); cached at %s", name, len(arr), path)
    sl = [(arr.atom_ptr[i], arr.atom_ptr[i + 1]) for i in range(len(arr))]
    gs = featurize_many(
        list(arr.lattices),
        [arr.frac_coords[a:b] for a, b in sl],
        [arr.atomic_numbers[a:b] for a, b in sl],
        arr.ids,
        config,
        workers=workers,
        progress=progress,
    )
    gs.save(path)
    return gs, False


def with_surface_depth(
    gs: GraphSet, lattices: Sequence[np.ndarray], fracs: Sequence[np.ndarray], surface_depth: float
) -> GraphSet:
    """``gs`` with every atom's surface side recomputed for ``surface_depth`` Å (``lattices`` and
    ``fracs``: the structures ``gs`` was built from, in its order). Only the side (and so the
    surface flag) depends on the depth, so this equals a full featurization at that depth at a
    fraction of the cost (no neighbour search)."""
    from dataclasses import replace

    from .featurize import surface_sides

    config = replace(gs.config, surface_depth=float(surface_depth))
    side = (
        np.concatenate([surface_sides(lat, f, config) for lat, f in zip(lattices, fracs, strict=True)])
        if len(gs)
        else np.zeros(0, np.uint8)
    )
    return replace(gs, side=side.astype(np.uint8), config=config)


def dataset_graphs_at_depth(name: str, surface_depth: float, config: GraphConfig | None = None) -> GraphSet:
    """Graphs of a shipped dataset with the surface flag at ``surface_depth`` Å: the cached graphs of
    ``config`` (default: the paper's) with only the flag recomputed (:func:`with_surface_depth`)."""
    from semcgcnn.datasets import load_arrays

    gs, _ = dataset_graphs(name, config)
    if float(surface_depth) == gs.config.surface_depth:
        return gs
    _, arr = load_arrays(name)
    fracs = [arr.frac_coords[arr.atom_ptr[i] : arr.atom_ptr[i + 1]] for i in range(len(arr))]
    return with_surface_depth(gs, list(arr.lattices), fracs, surface_depth)
