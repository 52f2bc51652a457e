"""A straightforward re-implementation of the SEM-CGCNN authors' training loop (CGCNN style).

What it keeps from the original code: a ``Dataset`` whose ``__getitem__`` featurizes one
structure (behind an unbounded ``functools.lru_cache``), CGCNN's ``collate_pool`` with a list
of per-crystal atom-index tensors, the convolution as one Linear over the concatenated
[v_i, v_j, u_ij], mean pooling by a Python loop over crystals, one MLP head per task, and
GradNorm with one autograd pass per task. Same hyper-parameters and maths as the project.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class CIFDataLike(Dataset):
    def __init__(self, featurize_one, targets: np.ndarray, n_gaussians_grid: np.ndarray, step: float):
        self.featurize_one = featurize_one  # i -> (atomic features (N, 93), nbr_idx (N, M), nbr_dist (N, M))
        self.targets = targets
        self.grid = n_gaussians_grid
        self.step = step

    def __len__(self):
        return len(self.targets)

    @functools.cache  # noqa: B019 - as in CGCNN's CIFData
    def __getitem__(self, i):
        atom_fea, nbr_idx, nbr_dist = self.featurize_one(i)
        nbr_fea = np.exp(-((nbr_dist[..., np.newaxis] - self.grid) ** 2) / self.step**2)
        return (
            (torch.Tensor(atom_fea), torch.Tensor(nbr_fea), torch.LongTensor(nbr_idx)),
            torch.Tensor(self.targets[i]),
            i,
        )


def collate_pool(dataset_list):
    batch_atom_fea, batch_nbr_fea, batch_nbr_fea_idx = [], [], []
    crystal_atom_idx, batch_target = [], []
    base_idx = 0
    for (atom_fea, nbr_fea, nbr_fea_idx), target, _ in dataset_list:
        n_i = atom_fea.shape[0]
        batch_atom_fea.append(atom_fea)
        batch_nbr_fea.append(nbr_fea)
        batch_nbr_fea_idx.append(nbr_fea_idx + base_idx)
        crystal_atom_idx.append(torch.LongTensor(np.arange(n_i) + base_idx))
        batch_target.append(target)
        base_idx += n_i
    return (
        torch.cat(batch_atom_fea, 0),
        torch.cat(batch_nbr_fea, 0),
        torch.cat(batch_nbr_fea_idx, 0),
        crystal_atom_idx,
    ), torch.stack(batch_target, 0)


class ConvLayer(nn.Module):
    def __init__(self, atom_fea_len, nbr_fea_len):
        super().__init__()
        self.atom_fea_len = atom_fea_len
        self.fc_full = nn.Linear(2 * atom_fea_len + nbr_fea_len, 2 * atom_fea_len)
        self.sigmoid = nn.Sigmoid()
        self.softplus1 = nn.Softplus()
        self.bn1 = nn.BatchNorm1d(2 * atom_fea_len)
        self.bn2 = nn.BatchNorm1d(atom_fea_len)
        self.softplus2 = nn.Softplus()

    def forward(self, atom_in_fea, nbr_fea, nbr_fea_idx):
        n, m = nbr_fea_idx.shape
        atom_nbr_fea = atom_in_fea[nbr_fea_idx, :]
        total_nbr_fea = torch.cat(
            [atom_in_fea.unsqueeze(1).expand(n, m, self.atom_fea_len), atom_nbr_fea, nbr_fea], dim=2
        )
        total_gated_fea = self.fc_full(total_nbr_fea)
        total_gated_fea = self.bn1(total_gated_fea.view(-1, self.atom_fea_len * 2)).view(
            n, m, self.atom_fea_len * 2
        )
        nbr_filter, nbr_core = total_gated_fea.chunk(2, dim=2)
        nbr_sumed = torch.sum(self.sigmoid(nbr_filter) * self.softplus1(nbr_core), dim=1)
        return self.softplus2(atom_in_fea + self.bn2(nbr_sumed))


class MultiTaskCGCNN(nn.Module):
    def __init__(
        self, orig_atom_fea_len, nbr_fea_len, atom_fea_len=64, n_conv=3, h_fea_len=128, n_h=3, n_tasks=2
    ):
        super().__init__()
        self.embedding = nn.Linear(orig_atom_fea_len, atom_fea_len)
        self.convs = nn.ModuleList([ConvLayer(atom_fea_len, nbr_fea_len) for _ in range(n_conv)])
        heads = []
        for _ in range(n_tasks):
            layers = [nn.Linear(atom_fea_len, h_fea_len), nn.Softplus()]
            for _ in range(n_h - 1):
                layers += [nn.Linear(h_fea_len, h_fea_len), nn.Softplus()]
            heads.append(nn.Sequential(*layers, nn.Linear(h_fea_len, 1)))
        self.heads = nn.ModuleList(heads)

    def forward(self, atom_fea, nbr_fea, nbr_fea_idx, crystal_atom_idx):
        atom_fea = self.embedding(atom_fea)
        for conv in self.convs:
            atom_fea = conv(atom_fea, nbr_fea, nbr_fea_idx)
        crys_fea = torch.cat(
            [torch.mean(atom_fea[idx], dim=0, keepdim=True) for idx in crystal_atom_idx], dim=0
        )
        return torch.cat([h(crys_fea) for h in self.heads], dim=1)


def train_one_epoch(model, loader, optimizer, task_weights, weight_opt, initial_losses, mean, std, alpha=1.5):
    model.train()
    shared = model.convs[-1].fc_full.weight
    for (atom_fea, nbr_fea, nbr_idx, crystal_atom_idx), target in loader:
        if len(crystal_atom_idx) < 2:
            continue
        y = (target - mean) / std
        out = model(atom_fea, nbr_fea, nbr_idx, crystal_atom_idx)
        losses = torch.stack([((out[:, k] - y[:, k]) ** 2).mean() for k in range(y.shape[1])])
        if initial_losses[0] is None:
            initial_losses[0] = losses.detach()
        norms = torch.stack(
            [
                torch.norm(task_weights[k] * torch.autograd.grad(losses[k], shared, retain_graph=True)[0])
                for k in range(len(losses))
            ]
        )
        ratio = losses.detach() / initial_losses[0]
        target_norm = (norms.mean() * (ratio / ratio.mean()) ** alpha).detach()
        weight_opt.zero_grad()
        (norms - target_norm).abs().sum().backward(retain_graph=True)
        weight_opt.step()
        optimizer.zero_grad()
        (task_weights.detach() * losses).sum().backward()
        optimizer.step()
        with torch.no_grad():
            task_weights.clamp_(min=1e-4)
            task_weights.mul_(len(losses) / task_weights.sum())


def make_loader(dataset, indices, batch_size, seed):
    from torch.utils.data import SubsetRandomSampler

    g = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=SubsetRandomSampler(indices, generator=g),
        collate_fn=collate_pool,
        num_workers=0,
    )
