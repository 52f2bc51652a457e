"""Distance to the training data in the model's own representation: a term for the uncertainty
that grows where a slab looks unlike anything the model was trained on, which an ensemble of
members sharing their parent's training rows does not see.

A slab's embedding (:func:`slab_embeddings`) is the mean of its surface atoms' final states
(atoms with ``side > 0``, what the ``surface`` readout's heads read), or the mean of a task
head's last hidden layer over them. :class:`KNNReference` standardises embeddings with the
training rows' per-dimension mean and std and returns each query's mean Euclidean distance to
its k nearest training rows (exact, chunked ``torch.cdist`` + ``topk``; no index structure is
needed for a few thousand rows). In the same space, :func:`local_error` reads the errors of the
nearest held-out (validation) slabs of other systems, and :class:`ResidualGP` corrects a new
system's predictions from a few of its labelled slabs without retraining.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import GraphTensors, mean_pool
from .featurize import BOTTOM, TOP
from .network import SEMCGCNN

EMBEDDINGS = ("surface", "head")
"""``surface``: mean final atom state over the surface atoms; ``head``: mean last hidden layer of
a task's head over the surface atoms (the work-function head reads each face's mean state, so its
hidden layer is taken on each face and averaged, as its output is)."""


@torch.no_grad()
def slab_embeddings(
    model: SEMCGCNN,
    data: GraphTensors,
    idx: np.ndarray,
    kind: str = "surface",
    task: str | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """(len(idx), D) float64 embeddings of the slabs ``idx`` of ``data`` (see :data:`EMBEDDINGS`;
    ``task`` names the head for ``kind="head"``). A slab without surface atoms gets zeros."""
    if kind not in EMBEDDINGS:
        raise ValueError(f"kind must be one of {EMBEDDINGS}, not {kind!r}")
    if kind == "head" and task not in model.cfg.tasks:
        raise ValueError(f"kind='head' needs task= one of {model.cfg.tasks}, not {task!r}")
    model.eval()
    terms = model.edge_terms(data.shared_edge_features()) if data.shared_edges else None
    out = []
    for b in data.batches(np.asarray(idx, dtype=np.int64), batch_size):
        x = model.atom_states(b.atom_fea, b.edges, b.edge_fea, edge_terms=terms)
        on = b.side > 0
        if kind == "surface":
            out.append(mean_pool(x, b.batch, b.n_graphs, weights=on))
            continue
        hidden = model.heads[task][:-1]  # every layer but the last Linear
        if task == "surface_energy":  # per-atom head: its hidden layer per surface atom, averaged
            out.append(mean_pool(hidden(x), b.batch, b.n_graphs, weights=on))
        else:
            faces = [mean_pool(x, b.batch, b.n_graphs, weights=(b.side & bit) > 0) for bit in (BOTTOM, TOP)]
            out.append(0.5 * (hidden(faces[0]) + hidden(faces[1])))
    if not out:
        return np.zeros((0, model.cfg.atom_fea_len if kind == "surface" else model.cfg.h_fea_len))
    return torch.cat(out).double().cpu().numpy()


@dataclass
class KNNReference:
    """Training embeddings, standardised with their own per-dimension mean and std (a constant
    dimension keeps std 1), and the default number of neighbours ``k``."""

    points: torch.Tensor  # (n, D) float64, standardised
    mean: np.ndarray
    std: np.ndarray
    k: int = 10
    scale: float = 1.0
    """The training rows' median leave-one-out distance: :meth:`relative_distances` divides by it,
    so 1 is how far a typical training slab lies from the others, in any model's space."""

    @classmethod
    def fit(cls, embeddings: np.ndarray, k: int = 10) -> KNNReference:
        emb = np.asarray(embeddings, dtype=np.float64)
        if emb.ndim != 2 or len(emb) < 2:
            raise ValueError(f"need an (n ≥ 2, D) array of training embeddings, not shape {emb.shape}")
        if not 1 <= k < len(emb):
            raise ValueError(f"k must be between 1 and {len(emb) - 1} (the training rows less one), not {k}")
        mean, std = emb.mean(0), emb.std(0)
        std = np.where(std > 1e-12, std, 1.0)
        ref = cls(torch.from_numpy((emb - mean) / std), mean, std, k)
        ref.scale = float(np.median(ref.distances(emb, exclude_self=True))) or 1.0
        return ref

    def relative_distances(self, embeddings: np.ndarray) -> np.ndarray:
        """(n,) :meth:`distances` over :attr:`scale`: 1 for a query as near the training data as
        a typical training row is to the others, larger further out."""
        return self.distances(embeddings) / self.scale

    def save(self, path: Path) -> str:
        """Write the reference as safetensors at ``path`` (points as float32; mean, std, k and
        scale in the header's metadata); return the file's sha256, for a card to verify it by."""
        from safetensors.numpy import save_file

        meta = {"k": str(self.k), "scale": repr(self.scale)}
        save_file(
            {
                "points": self.points.numpy().astype(np.float32),
                "mean": self.mean.astype(np.float64),
                "std": self.std.astype(np.float64),
            },
            str(path),
            metadata=meta,
        )
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()

    @classmethod
    def load(cls, path: Path, sha256: str) -> KNNReference:
        """Read a reference written by :meth:`save`, after checking the file's sha256 is
        ``sha256`` (``ValueError`` otherwise). Nothing is unpickled."""
        from safetensors import safe_open

        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if digest != sha256:
            raise ValueError(f"{path}: sha256 {digest[:12]}… is not the {sha256[:12]}… its card names")
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            points, mean, std = (f.get_tensor(n) for n in ("points", "mean", "std"))
        if points.ndim != 2 or mean.shape != (points.shape[1],) or std.shape != mean.shape:
            raise ValueError(f"{path}: not a kNN reference (points {points.shape}, mean {mean.shape})")
        return cls(
            torch.from_numpy(points.astype(np.float64)), mean, std, int(meta["k"]), float(meta["scale"])
        )

    def standardise(self, embeddings: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((np.asarray(embeddings, dtype=np.float64) - self.mean) / self.std)

    def distances(
        self, embeddings: np.ndarray, k: int | None = None, exclude_self: bool = False, chunk: int = 2048
    ) -> np.ndarray:
        """(n,) mean Euclidean distance of each query to its ``k`` nearest reference rows (in the
        standardised space). ``exclude_self``: the queries are reference rows; each one's nearest
        row (itself, at distance 0) is left out (leave-one-out distances of the training rows)."""
        k = self.k if k is None else k
        extra = int(exclude_self)
        if not 1 <= k + extra <= len(self.points):
            raise ValueError(
                f"k={k} (+{extra} for exclude_self) exceeds the {len(self.points)} reference rows"
            )
        q = self.standardise(embeddings)
        out = []
        for i in range(0, len(q), chunk):
            # exact differences (not the |a|²+|b|²−2ab matrix form), so a row's distance to itself is 0
            d = torch.cdist(q[i : i + chunk], self.points, compute_mode="donot_use_mm_for_euclid_dist")
            near = d.topk(k + extra, dim=1, largest=False).values[:, extra:]
            out.append(near.mean(1))
        return torch.cat(out).numpy() if out else np.zeros(0)


def local_error(
    reference: KNNReference,
    labelled: np.ndarray,
    abs_errors: np.ndarray,
    queries: np.ndarray,
    k: int = 20,
    labelled_groups: np.ndarray | None = None,
    query_groups: np.ndarray | None = None,
    chunk: int = 2048,
) -> np.ndarray:
    """(n,) mean absolute error of each query's ``k`` nearest labelled slabs (embeddings
    ``labelled`` with errors ``abs_errors``, NaN rows dropped), in ``reference``'s standardised
    space: an error model of the held-out (validation) slabs, read where a new slab lies. With
    groups (chemical systems), a query never reads its own group's slabs, so a validation slab's
    value is what an unseen system would get (leave one system out)."""
    ok = np.isfinite(abs_errors)
    pts = reference.standardise(np.asarray(labelled)[ok])
    err = torch.from_numpy(np.asarray(abs_errors, dtype=np.float64)[ok])
    q = reference.standardise(queries)
    if labelled_groups is not None and query_groups is not None:
        lab_g = np.asarray(labelled_groups)[ok]
        codes = {g: i for i, g in enumerate(sorted(set(lab_g) | set(np.asarray(query_groups))))}
        lab_c = torch.tensor([codes[g] for g in lab_g])
        q_c = torch.tensor([codes[g] for g in np.asarray(query_groups)])
    else:
        lab_c = q_c = None
    out = []
    for i in range(0, len(q), chunk):
        d = torch.cdist(q[i : i + chunk], pts, compute_mode="donot_use_mm_for_euclid_dist")
        if lab_c is not None:
            d = d.masked_fill(q_c[i : i + chunk, None] == lab_c[None, :], float("inf"))
        kk = min(k, int(torch.isfinite(d).sum(1).min()))
        if kk < 1:
            raise ValueError("a query has no labelled slab outside its own group")
        out.append(err[d.topk(kk, dim=1, largest=False).indices].mean(1))
    return torch.cat(out).numpy() if out else np.zeros(0)


@dataclass
class ResidualGP:
    """A Gaussian process on a model's residuals within one chemical system, in a standardised
    embedding space: kernel τ² + s²·exp(−|x − x′|² / 2ℓ²) plus noise σₙ² (τ: the system's offset
    the model misses; s, ℓ: how it varies between slabs). Given a few labelled slabs' residuals,
    :meth:`predict` is the posterior mean residual of other slabs: a correction without retraining."""

    tau: float
    s: float
    length: float
    noise: float

    def kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = (
            torch.cdist(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)) ** 2
        )
        return self.tau**2 + self.s**2 * np.exp(-0.5 * d2.numpy() / self.length**2)

    def predict(self, x_lab: np.ndarray, r_lab: np.ndarray, x_new: np.ndarray) -> np.ndarray:
        """Posterior mean residual at ``x_new`` given residuals ``r_lab`` at ``x_lab``."""
        k = self.kernel(x_lab, x_lab) + self.noise**2 * np.eye(len(x_lab))
        return self.kernel(x_new, x_lab) @ np.linalg.solve(k, np.asarray(r_lab, dtype=np.float64))

    def log_marginal(self, systems: list[tuple[np.ndarray, np.ndarray]]) -> float:
        """Σ over systems (independent) of log p(residuals | embeddings)."""
        total = 0.0
        for x, r in systems:
            k = self.kernel(x, x) + self.noise**2 * np.eye(len(x))
            chol = np.linalg.cholesky(k)
            alpha = np.linalg.solve(chol, r)
            total += -0.5 * alpha @ alpha - np.log(np.diag(chol)).sum() - 0.5 * len(r) * np.log(2 * np.pi)
        return float(total)

    @classmethod
    def fit(cls, systems: list[tuple[np.ndarray, np.ndarray]]) -> ResidualGP:
        """Hyper-parameters maximising :meth:`log_marginal` over ``systems`` ((embeddings,
        residuals) of whole systems: the validation systems, never the ones it will correct)."""
        from scipy.optimize import minimize

        systems = [(np.asarray(x, np.float64), np.asarray(r, np.float64)) for x, r in systems if len(r)]
        r_all = np.concatenate([r for _, r in systems])
        d = np.concatenate([torch.pdist(torch.from_numpy(x)).numpy() for x, _ in systems if len(x) > 1])
        scale = float(np.std(r_all))
        start = np.log([scale, scale, float(np.median(d)), 0.5 * scale])

        def loss(theta: np.ndarray) -> float:
            try:
                return -cls(*np.exp(theta)).log_marginal(systems)
            except np.linalg.LinAlgError:
                return np.inf

        res = minimize(
            loss, start, method="Nelder-Mead", options={"maxiter": 2000, "xatol": 1e-4, "fatol": 1e-6}
        )
        return cls(*map(float, np.exp(res.x)))

    def to_dict(self) -> dict:
        return {"tau": self.tau, "s": self.s, "length": self.length, "noise": self.noise}
