"""Target normalisation and batched inference: what both training and prediction need."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .batched import StackedMembers
from .data import GraphTensors
from .network import SEMCGCNN


@dataclass
class Normalizer:
    """Per-task mean and std, fitted on the training split only (missing targets ignored)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, y: np.ndarray) -> Normalizer:
        mean = np.nanmean(y, axis=0)
        std = np.nanstd(y, axis=0)
        return cls(np.nan_to_num(mean), np.where(np.isfinite(std) & (std > 0), std, 1.0))

    def norm(self, y: torch.Tensor) -> torch.Tensor:
        kw = {"dtype": y.dtype, "device": y.device}
        return (y - torch.as_tensor(self.mean, **kw)) / torch.as_tensor(self.std, **kw)

    def denorm(self, y: np.ndarray) -> np.ndarray:
        return y * self.std + self.mean

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64))


@torch.no_grad()
def predict(
    model: SEMCGCNN, data: GraphTensors, idx: np.ndarray, normalizer: Normalizer, batch_size: int = 256
) -> np.ndarray:
    """Predictions in original units for the rows ``idx``."""
    model.eval()
    terms = model.edge_terms(data.shared_edge_features()) if data.shared_edges else None
    out = [
        model(*b.inputs(), edge_terms=terms).double().cpu().numpy()
        for b in data.batches(np.asarray(idx), batch_size)
    ]
    return normalizer.denorm(np.concatenate(out)) if out else np.zeros((0, len(model.cfg.tasks)))


@torch.no_grad()
def predict_members(
    models: list[SEMCGCNN],
    normalizers: list[Normalizer],
    data: GraphTensors,
    idx: np.ndarray,
    batch_size: int = 256,
) -> np.ndarray:
    """(k, n, n_tasks) predictions of k models on the rows ``idx``: each batch is built once and
    run through every model (an ensemble's members share the graphs). Members of one config run
    as one batched model (:class:`~semcgcnn.model.batched.StackedMembers`) unless their
    convolutions were compiled (:meth:`SEMCGCNN.compile_inference`), which runs them one by one."""
    for m in models:
        m.eval()
    if StackedMembers.supports(models) and all(c.fused_gate is None for m in models for c in m.convs):
        stacked = StackedMembers(models)
        terms = stacked.edge_terms(data.shared_edge_features()) if data.shared_edges else None
        runs = [stacked(*b.inputs(), edge_terms=terms) for b in data.batches(np.asarray(idx), batch_size)]
        if not runs:
            return np.zeros((len(models), 0, len(models[0].cfg.tasks)))
        out = torch.cat(runs, dim=1).double().cpu().numpy()
        return np.stack([nz.denorm(o) for nz, o in zip(normalizers, out, strict=True)])
    terms = [m.edge_terms(data.shared_edge_features()) if data.shared_edges else None for m in models]
    per_model = [[] for _ in models]
    for b in data.batches(np.asarray(idx), batch_size):
        inputs = b.inputs()
        for k, m in enumerate(models):
            per_model[k].append(m(*inputs, edge_terms=terms[k]).double().cpu().numpy())
    if not per_model[0]:
        return np.zeros((len(models), 0, len(models[0].cfg.tasks)))
    return np.stack([nz.denorm(np.concatenate(o)) for nz, o in zip(normalizers, per_model, strict=True)])
