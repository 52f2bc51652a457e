"""An ensemble's members evaluated as one batched model (inference only).

Members of one architecture differ only in their weights, so each layer's weights are stacked
along a leading member axis and every step runs once for all k members: batched GEMMs
(``baddbmm``) instead of k small ones, and one pass over the (k, E, 2A) edge tensor instead of k.
Batch norms are folded into the affine maps (eval mode). The result equals evaluating the members
one after the other to float rounding (``tests/model/test_batched.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .config import SURFACE_DENSITY_REF
from .data import Edges
from .featurize import BOTTOM, TOP
from .network import SEMCGCNN


def _folded_bn(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode batch norm as ``y = x * scale + shift``."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


def _stack(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).contiguous()


def _affine(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``x @ w.T + b`` per member: x (k, n, in), w (k, out, in), b (k, out) → (k, n, out)."""
    return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))


def _index_mean(x: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of the rows of x (k, m, A) per group ``index`` (m,) → (k, n, A); zeros for an empty group."""
    out = torch.zeros(x.shape[0], n, x.shape[2], dtype=x.dtype, device=x.device).index_add_(1, index, x)
    counts = torch.zeros(n, dtype=x.dtype, device=x.device).index_add_(
        0, index, torch.ones_like(index, dtype=x.dtype)
    )
    return out / counts.clamp_min(1)[None, :, None]


def _rows(t: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``t[index]`` for a contiguous (rows, k, f) tensor, gathered as 2-D rows (the fast path of
    ``index_select``; on a 3-D tensor it is several times slower on CPU)."""
    return t.view(t.shape[0], -1).index_select(0, index).view(len(index), *t.shape[1:])


class StackedMembers(nn.Module):
    """k eval-mode :class:`SEMCGCNN` members of one config as one model; ``forward`` returns the
    (k, n_graphs, n_tasks) normalised predictions that each member's ``forward`` would."""

    def __init__(self, models: Sequence[SEMCGCNN]):
        super().__init__()
        if not self.supports(models):
            raise ValueError("members of different configs cannot be stacked")
        cfg = models[0].cfg
        self.cfg, self.k = cfg, len(models)
        self.register_buffer("input_cols", models[0].input_cols.clone(), persistent=False)
        self.emb_w = _stack([m.embedding.weight for m in models])
        self.emb_b = _stack([m.embedding.bias for m in models])
        self.convs = []
        for layer in range(cfg.n_conv):
            convs = [m.convs[layer] for m in models]
            folded = [c._folded() for c in convs]  # eval mode: bn1 folded into fc_full
            w = _stack([f[0] for f in folded])
            bn2 = [_folded_bn(c.bn2) for c in convs]
            a = cfg.atom_fea_len
            self.convs.append(
                {
                    "w_self": w[:, :, :a].contiguous(),
                    "w_nbr": w[:, :, a : 2 * a].contiguous(),
                    "w_edge": w[:, :, 2 * a :].contiguous(),
                    "b": _stack([f[1] for f in folded]),
                    "bn2_scale": _stack([s for s, _ in bn2]),
                    "bn2_shift": _stack([t for _, t in bn2]),
                }
            )
        self.heads = {
            t: [
                (_stack([m.heads[t][i].weight for m in models]), _stack([m.heads[t][i].bias for m in models]))
                for i, layer in enumerate(models[0].heads[t])
                if isinstance(layer, nn.Linear)
            ]
            for t in cfg.tasks
        }
        if cfg.readout == "surface":
            self.target_mean = _stack([m.target_mean for m in models])  # (k, tasks)
            self.target_std = _stack([m.target_std for m in models])

    @staticmethod
    def supports(models: Sequence[SEMCGCNN]) -> bool:
        """Whether ``models`` can be stacked: two or more, one config, all in eval mode."""
        return len(models) > 1 and all(m.cfg == models[0].cfg and not m.training for m in models)

    def edge_terms(self, edge_fea: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's (U, k, 2A) edge term for a shared distance table."""
        return [torch.einsum("ug,kog->uko", edge_fea, c["w_edge"]).contiguous() for c in self.convs]

    def _head(self, task: str, x: torch.Tensor) -> torch.Tensor:
        layers = self.heads[task]
        for i, (w, b) in enumerate(layers):
            x = _affine(x, w, b)
            if i < len(layers) - 1:
                x = F.softplus(x)
        return x

    def atom_states(
        self,
        atom_fea: torch.Tensor,
        edges: Edges,
        edge_fea: torch.Tensor | None,
        edge_terms: list | None = None,
    ) -> torch.Tensor:
        """(k, A, atom_fea_len): every member's atom states after the convolutions.

        Per-atom and per-edge tensors are laid out (rows, k, features): a gather by atom or
        distance index then copies one contiguous row for all members at once."""
        if edge_terms is None:
            edge_terms = self.edge_terms(edge_fea)
        inp = atom_fea.index_select(1, self.input_cols)
        x = torch.einsum("ni,kai->nka", inp, self.emb_w) + self.emb_b  # (N, k, A)
        a, n = self.cfg.atom_fea_len, len(atom_fea)
        w = edges.weight[:, None, None]
        for c, et in zip(self.convs, edge_terms, strict=True):
            xk = x.transpose(0, 1)  # (k, N, A) view for the batched GEMMs
            self_term = _affine(xk, c["w_self"], c["b"]).transpose(0, 1).contiguous()  # (N, k, 2A)
            nbr_term = torch.bmm(xk, c["w_nbr"].transpose(1, 2)).transpose(0, 1).contiguous()
            z = _rows(nbr_term, edges.nbr)  # (E, k, 2A)
            z.add_(_rows(et, edges.row)).add_(_rows(self_term, edges.center))
            msg = torch.sigmoid(z[..., :a]).mul_(F.softplus(z[..., a:])).mul_(w)  # contiguous (E, k, A)
            summed = torch.zeros(n, self.k * a, dtype=x.dtype, device=x.device)
            summed = summed.index_add_(0, edges.center, msg.view(len(msg), -1)).view(n, self.k, a)
            x = F.softplus(x + summed * c["bn2_scale"] + c["bn2_shift"])
        return x.transpose(0, 1)

    def forward(
        self,
        atom_fea: torch.Tensor,
        edges: Edges,
        edge_fea: torch.Tensor | None,
        batch: torch.Tensor,
        n_graphs: int,
        side: torch.Tensor | None = None,
        area: torch.Tensor | None = None,
        edge_terms: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """(k, n_graphs, n_tasks) normalised predictions; arguments as :meth:`SEMCGCNN.forward`."""
        x = self.atom_states(atom_fea, edges, edge_fea, edge_terms)
        if self.cfg.readout == "paper":
            crys = _index_mean(x, batch, n_graphs)
            if self.cfg.surface_pool:
                on = atom_fea[:, self.cfg.n_atom_features] > 0.5
                crys = torch.cat([crys, _index_mean(x[:, on], batch[on], n_graphs)], dim=2)
            return torch.cat([self._head(t, crys) for t in self.cfg.tasks], dim=2)
        out = []
        for k, task in enumerate(self.cfg.tasks):
            if task == "surface_energy":
                on = side > 0
                mean, std = self.target_mean[:, k, None], self.target_std[:, k, None]
                eps = (mean + std * self._head(task, x[:, on]).squeeze(2)) / SURFACE_DENSITY_REF
                total = torch.zeros(self.k, n_graphs, dtype=x.dtype, device=x.device).index_add_(
                    1, batch[on], eps
                )
                gamma = total / (2.0 * area.to(x.dtype))
                out.append(((gamma - mean) / std).unsqueeze(2))
            else:
                faces = []
                for bit in (BOTTOM, TOP):
                    on = (side & bit) > 0
                    faces.append(self._head(task, _index_mean(x[:, on], batch[on], n_graphs)))
                out.append(0.5 * (faces[0] + faces[1]))
        return torch.cat(out, dim=2)
