"""The SEM-CGCNN network: CGCNN convolutions (Eq. 2), a readout (the paper's mean pooling or the
thickness-invariant surface readout), one head per task.

The convolution keeps CGCNN's parameters (one ``fc_full`` Linear over [v_i, v_j, u_ij]) but
evaluates it split: ``v·W_self`` and ``v·W_nbr`` per atom (gathered by centre and neighbour
index) plus ``u·W_edge`` once per distinct distance (gathered by ``Edges.row``, see
:mod:`semcgcnn.model.data`). Messages are summed over a flat edge list with each edge's weight
(1, or a tied shell's share: :mod:`semcgcnn.model.featurize`), so the sum is over a set that
does not depend on the order of the sites. That is the same affine map with a fraction of the FLOPs;
:meth:`ConvLayer.forward_plain` is the textbook form, kept for the equality test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .config import SURFACE_DENSITY_REF, ModelConfig
from .data import Edges, mean_pool
from .featurize import BOTTOM, TOP

if TYPE_CHECKING:
    import numpy as np


def gate_sum(
    self_term: torch.Tensor, nbr_term: torch.Tensor, edge_term: torch.Tensor, edges: Edges
) -> torch.Tensor:
    """Σ_j w_ij σ(f_ij) ⊙ softplus(c_ij) with [f, c]_ij = self_term_i + nbr_term_j + edge_term_{e_ij}:
    the convolution's edge work once ``bn1`` is folded (inference). Written for ``torch.compile``,
    which fuses gathers, gates and the sum into one loop with no (E, 2A) temporaries."""
    a = self_term.shape[1] // 2
    z = nbr_term[edges.nbr] + edge_term[edges.row] + self_term[edges.center]
    msg = torch.sigmoid(z[:, :a]) * F.softplus(z[:, a:]) * edges.weight[:, None]
    return torch.zeros(self_term.shape[0], a, dtype=msg.dtype, device=msg.device).index_add_(
        0, edges.center, msg
    )


class ConvLayer(nn.Module):
    """v_i ← softplus(v_i + BN(Σ_j σ(z W_f + b_f) ⊙ softplus(z W_s + b_s))), z = v_i ⊕ v_j ⊕ u_ij."""

    def __init__(self, atom_fea_len: int, nbr_fea_len: int):
        super().__init__()
        self.atom_fea_len = atom_fea_len
        self.fc_full = nn.Linear(2 * atom_fea_len + nbr_fea_len, 2 * atom_fea_len)
        self.bn1 = nn.BatchNorm1d(2 * atom_fea_len)
        self.bn2 = nn.BatchNorm1d(atom_fea_len)
        self.softplus = nn.Softplus()
        self.fused_gate = None  # a compiled gate_sum for inference (SEMCGCNN.compile_inference)

    def _folded(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """``fc_full``'s weight and bias, with eval-mode ``bn1`` folded in (same affine map,
        one pass less over the edge tensor); returns whether ``bn1`` must still be applied."""
        w, b, bn = self.fc_full.weight, self.fc_full.bias, self.bn1
        if self.training or bn.running_mean is None:
            return w, b, True
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        return w * scale[:, None], (b - bn.running_mean) * scale + bn.bias, False

    def _finish(
        self, x: torch.Tensor, pair: torch.Tensor, edges: Edges, apply_bn1: bool = True
    ) -> torch.Tensor:
        """``pair`` (E, 2A): each edge's pre-activation; gates, weights and sums it per centre."""
        if apply_bn1:
            pair = self.bn1(pair)
        filt, core = pair.chunk(2, dim=1)
        w = edges.weight[:, None]
        if torch.is_grad_enabled():
            msg = torch.sigmoid(filt) * self.softplus(core) * w
        else:  # inference: gates into one contiguous (E, A) tensor (index_add_ is slow on a strided one)
            msg = torch.sigmoid(filt).mul_(self.softplus(core)).mul_(w)
        summed = torch.zeros_like(x).index_add_(0, edges.center, msg)
        return self.softplus(x + self.bn2(summed))

    def edge_term(self, edge_fea: torch.Tensor) -> torch.Tensor:
        """(U, 2A): the edge part of ``fc_full`` (``bn1`` folded in eval mode), once per distinct distance."""
        w, _, _ = self._folded()
        return edge_fea @ w[:, 2 * self.atom_fea_len :].t()

    def forward(
        self,
        x: torch.Tensor,
        edges: Edges,
        edge_fea: torch.Tensor | None,
        edge_term: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``edge_term``: this layer's :meth:`edge_term` precomputed for a shared distance table
        (then ``edge_fea`` is unused)."""
        a = self.atom_fea_len
        w, b, apply_bn1 = self._folded()
        self_term = torch.addmm(b, x, w[:, :a].t())  # (N, 2A)
        if edge_term is None:
            edge_term = edge_fea @ w[:, 2 * a :].t()  # (U, 2A), once per distinct distance
        nbr_term = x @ w[:, a : 2 * a].t()
        if self.fused_gate is not None and not apply_bn1:
            return self.softplus(x + self.bn2(self.fused_gate(self_term, nbr_term, edge_term, edges)))
        # index_select (backward: index_add_) is much cheaper on CPU than advanced indexing (index_put_)
        pair = nbr_term.index_select(0, edges.nbr)
        pair = pair.add_(edge_term.index_select(0, edges.row)).add_(self_term.index_select(0, edges.center))
        return self._finish(x, pair, edges, apply_bn1)

    def forward_plain(self, x: torch.Tensor, edges: Edges, edge_fea: torch.Tensor) -> torch.Tensor:
        """The textbook form: ``fc_full`` over [v_i, v_j, u_ij] of every edge."""
        z = torch.cat([x[edges.center], x[edges.nbr], edge_fea[edges.row]], dim=1)
        return self._finish(x, self.fc_full(z), edges)


def _head(cfg: ModelConfig) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(cfg.pooled_len, cfg.h_fea_len), nn.Softplus()]
    for _ in range(cfg.n_hidden - 1):
        layers += [nn.Linear(cfg.h_fea_len, cfg.h_fea_len), nn.Softplus()]
    layers.append(nn.Linear(cfg.h_fea_len, 1))
    return nn.Sequential(*layers)


class SEMCGCNN(nn.Module):
    """Shared embedding + convolutions + a readout (hard parameter sharing), one MLP head per task.

    Readouts (``cfg.readout``):

    * ``paper`` (mean pooling): every head reads the mean over all atoms (and, with
      ``surface_pool``, the mean over surface-flagged atoms). The prediction then depends on the
      fraction of surface atoms, so on the slab's thickness.
    * ``surface`` (thickness-invariant): the surface-energy head maps each surface atom (within
      ``surface_depth`` of either face) to its excess energy ε_i, and γ = Σ_i ε_i / 2A; every other
      head reads the mean over each face's surface atoms and averages the two faces. Surface atoms'
      states see a fixed depth of the slab (three convolutions over nearest neighbours), so once a
      slab is thicker than that, adding interior layers, vacuum or in-plane repeats changes nothing.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Linear(cfg.n_inputs, cfg.atom_fea_len)
        self.register_buffer("input_cols", torch.tensor(cfg.input_columns()), persistent=False)
        self.convs = nn.ModuleList(ConvLayer(cfg.atom_fea_len, cfg.n_gaussians) for _ in range(cfg.n_conv))
        self.heads = nn.ModuleDict({t: _head(cfg) for t in cfg.tasks})
        if (
            cfg.readout == "surface"
        ):  # the training targets' scale, so ε_i is in eV per atom (set_target_scale)
            self.register_buffer("target_mean", torch.zeros(len(cfg.tasks)))
            self.register_buffer("target_std", torch.ones(len(cfg.tasks)))

    def set_target_scale(
        self, mean: Sequence[float] | np.ndarray, std: Sequence[float] | np.ndarray
    ) -> SEMCGCNN:
        """The normaliser's per-task mean and std (original units): the extensive surface-energy
        readout needs them to add per-atom energies in eV (``surface`` readout only)."""
        if self.cfg.readout == "surface":
            self.target_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            self.target_std.copy_(torch.as_tensor(std, dtype=torch.float32))
        return self

    def compile_inference(self, enabled: bool = True) -> SEMCGCNN:
        """Run the convolutions' edge work (:func:`gate_sum`) through ``torch.compile`` in eval
        mode: ≈ 2.5× faster on CPU after a one-off compile of a few seconds (training unchanged)."""
        fn = torch.compile(gate_sum, dynamic=True) if enabled else None
        for conv in self.convs:
            conv.fused_gate = fn
        return self

    @property
    def shared_layer(self) -> torch.Tensor:
        """Weight of the last shared layer, where GradNorm measures per-task gradient norms."""
        return self.convs[-1].fc_full.weight

    def edge_terms(self, edge_fea: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's edge term for a shared distance table (pass to ``forward(edge_terms=)``);
        valid while the weights and the train/eval mode stay as they are."""
        return [conv.edge_term(edge_fea) for conv in self.convs]

    def atom_states(
        self,
        atom_fea: torch.Tensor,
        edges: Edges,
        edge_fea: torch.Tensor | None,
        plain: bool = False,
        edge_terms: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """(A, ``atom_fea_len``): every atom's state after the convolutions."""
        if edge_fea is None and edge_terms is None:
            raise ValueError("a batch of a shared distance table needs edge_terms=model.edge_terms(...)")
        x = self.embedding(atom_fea.index_select(1, self.input_cols))
        for k, conv in enumerate(self.convs):
            if plain:
                x = conv.forward_plain(x, edges, edge_fea)
            else:
                x = conv(x, edges, edge_fea, edge_term=None if edge_terms is None else edge_terms[k])
        return x

    def encode(
        self,
        atom_fea: torch.Tensor,
        edges: Edges,
        edge_fea: torch.Tensor | None,
        batch: torch.Tensor,
        n_graphs: int,
        *_,
        plain: bool = False,
        edge_terms: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The ``paper`` readout's crystal embeddings (n_graphs, ``cfg.pooled_len``): the mean over
        all atoms, then (with ``surface_pool``) the mean over the surface-flagged atoms (zeros
        where a slab has none)."""
        x = self.atom_states(atom_fea, edges, edge_fea, plain=plain, edge_terms=edge_terms)
        return self._mean_embedding(x, atom_fea, batch, n_graphs)

    def _mean_embedding(
        self, x: torch.Tensor, atom_fea: torch.Tensor, batch: torch.Tensor, n_graphs: int
    ) -> torch.Tensor:
        pooled = mean_pool(x, batch, n_graphs)
        if not self.cfg.surface_pool:
            return pooled
        return torch.cat(
            [pooled, mean_pool(x, batch, n_graphs, weights=atom_fea[:, self.cfg.n_atom_features])], dim=1
        )

    def forward(
        self,
        atom_fea: torch.Tensor,
        edges: Edges,
        edge_fea: torch.Tensor | None,
        batch: torch.Tensor,
        n_graphs: int,
        side: torch.Tensor | None = None,
        area: torch.Tensor | None = None,
        plain: bool = False,
        edge_terms: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Predictions (n_graphs, n_tasks) in normalised units, columns in ``cfg.tasks`` order.
        ``side`` (A,) and ``area`` (n_graphs,) are the batch's :attr:`Batch.side`/``area``, which the
        ``surface`` readout needs."""
        x = self.atom_states(atom_fea, edges, edge_fea, plain=plain, edge_terms=edge_terms)
        if self.cfg.readout == "paper":
            crys = self._mean_embedding(x, atom_fea, batch, n_graphs)
            return torch.cat([self.heads[t](crys) for t in self.cfg.tasks], dim=1)
        if side is None or area is None:
            raise ValueError(
                "the surface readout needs each atom's side and each slab's area (Batch.inputs())"
            )
        return torch.cat(
            [self._surface_readout(k, x, batch, n_graphs, side, area) for k in range(len(self.cfg.tasks))],
            dim=1,
        )

    def _surface_readout(
        self,
        k: int,
        x: torch.Tensor,
        batch: torch.Tensor,
        n_graphs: int,
        side: torch.Tensor,
        area: torch.Tensor,
    ) -> torch.Tensor:
        """Task ``k`` of the ``surface`` readout, (n_graphs, 1) in normalised units."""
        task = self.cfg.tasks[k]
        head = self.heads[task]
        if task == "surface_energy":
            on = side > 0
            mean, std = self.target_mean[k], self.target_std[k]
            eps = (mean + std * head(x[on]).squeeze(1)) / SURFACE_DENSITY_REF  # eV per surface atom
            total = torch.zeros(n_graphs, dtype=x.dtype, device=x.device).index_add_(0, batch[on], eps)
            gamma = total / (2.0 * area.to(x.dtype))  # eV/Å²
            return ((gamma - mean) / std)[:, None]
        faces = [mean_pool(x, batch, n_graphs, weights=(side & bit) > 0) for bit in (BOTTOM, TOP)]
        return 0.5 * (head(faces[0]) + head(faces[1]))


ENCODER = ("embedding", "convs")
"""The shared layers below the task heads: what transfer learning copies as is and what freezing fixes."""


def freeze_encoder(model: SEMCGCNN) -> SEMCGCNN:
    """Fix the embedding and convolutions (``requires_grad`` off); training then also keeps their
    batch norms' running statistics (:func:`semcgcnn.model.training.train.train`)."""
    for name in ENCODER:
        getattr(model, name).requires_grad_(False)
    return model
