"""Training tensors held in memory: atom features, precomputed Gaussian edge features, targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .atom_features import atom_feature_table
from .featurize import gaussian_centers
from .graphs import GraphSet, _ranges


@dataclass
class Batch:
    atom_fea: torch.Tensor
    nbr_idx: torch.Tensor
    nbr_fea: torch.Tensor
    batch: torch.Tensor
    n_graphs: int
    y: torch.Tensor  # (n_graphs, n_tasks), NaN where a target is missing

    def inputs(self) -> tuple:
        return self.atom_fea, self.nbr_idx, self.nbr_fea, self.batch, self.n_graphs


class GraphTensors:
    """A :class:`GraphSet` turned into model-ready tensors once (edge features expanded once)."""

    def __init__(self, graphs: GraphSet, targets: np.ndarray | None = None):
        cfg = graphs.config
        table = torch.from_numpy(atom_feature_table().copy())
        z = torch.from_numpy(graphs.atomic_numbers.astype(np.int64))
        surf = torch.from_numpy(graphs.surface.astype(np.float32))[:, None]
        self.atom_fea = torch.cat([table[z], surf], dim=1)
        mu = torch.as_tensor(gaussian_centers(cfg), dtype=torch.float32)
        dist = torch.from_numpy(graphs.nbr_dist.astype(np.float32))
        self.nbr_fea = torch.exp(-((dist[..., None] - mu) ** 2) / cfg.gaussian_step**2)
        self.nbr_idx = torch.from_numpy(graphs.nbr_idx.astype(np.int64))
        self.atom_ptr = graphs.atom_ptr.astype(np.int64)
        self.n_atoms = np.diff(self.atom_ptr)
        n = len(graphs)
        y = np.full((n, 0), np.nan) if targets is None else np.asarray(targets, dtype=np.float64).reshape(n, -1)
        self.y = torch.from_numpy(y.astype(np.float32))
        self.ids = graphs.ids

    def __len__(self) -> int:
        return len(self.atom_ptr) - 1

    def batch(self, idx: np.ndarray) -> Batch:
        idx = np.asarray(idx, dtype=np.int64)
        counts = self.n_atoms[idx]
        atoms = torch.from_numpy(_ranges(self.atom_ptr[idx], self.atom_ptr[idx + 1]))
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        crystal = torch.from_numpy(np.repeat(np.arange(len(idx)), counts))
        shift = torch.from_numpy(offsets)[crystal]
        return Batch(
            atom_fea=self.atom_fea.index_select(0, atoms),
            nbr_idx=self.nbr_idx.index_select(0, atoms) + shift[:, None],
            nbr_fea=self.nbr_fea.index_select(0, atoms),
            batch=crystal,
            n_graphs=len(idx),
            y=self.y[torch.from_numpy(idx)],
        )

    def batches(self, idx: np.ndarray, batch_size: int):
        for i in range(0, len(idx), batch_size):
            yield self.batch(idx[i : i + batch_size])
