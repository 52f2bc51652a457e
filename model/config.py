"""Configuration dataclasses. One home for every parameter that travels inside a checkpoint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from semcgcnn.errors import UserError


@dataclass(frozen=True)
class GraphConfig:
    """How a structure becomes a crystal graph (paper §2.3; CGCNN defaults otherwise).

    ``search_radius`` is a speed knob only: neighbours are first looked for within it and the
    full ``radius`` search is run just for the atoms whose ``max_neighbors`` nearest
    neighbours are not all inside it, so the graph is identical to a plain ``radius`` search.
    """

    radius: float = 12.0  # Å, neighbour cutoff
    max_neighbors: int = 12
    gaussian_dmin: float = 0.0  # Å
    gaussian_step: float = 0.2  # Å, also the Gaussian width (CGCNN: var = step)
    gaussian_dmax: float | None = None  # Å, defaults to ``radius``
    surface_depth: float = 2.0  # Å from either surface along the a×b normal
    min_vacuum: float = 3.0  # Å, smallest gap along c accepted as a slab's vacuum
    search_radius: float = 6.0  # Å, first-pass neighbour search (no effect on the result)
    tie_tolerance: float = 1e-3  # Å: neighbours this close to the max_neighbors-th distance are tied with it

    @property
    def dmax(self) -> float:
        return self.radius if self.gaussian_dmax is None else self.gaussian_dmax

    @property
    def n_gaussians(self) -> int:
        return int(round((self.dmax - self.gaussian_dmin) / self.gaussian_step)) + 1

    @property
    def pad_distance(self) -> float:
        """CGCNN padding: missing neighbours sit at ``radius + 1`` Å (and index 0)."""
        return self.radius + 1.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GraphConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def key(self) -> str:
        """Hash of everything that changes the graph (not ``search_radius``)."""
        d = self.to_dict()
        d.pop("search_radius")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


READOUTS = ("paper", "surface")
"""Crystal readouts: the paper's mean pooling, and the thickness-invariant surface readout."""

SURFACE_DENSITY_REF = 0.1
"""Surface-region atoms per Å² of one face (n_surface / 2A) at which the surface readout's per-atom
energy is ε = γ / density: it only sets the scale of the surface-energy head's output
(hcp Mg(0001) with the 2 Å surface depth: 0.112)."""


@dataclass(frozen=True)
class ModelConfig:
    """SEM-CGCNN architecture (paper §2.3): 64-dim embedding, 3 convolutions, 3 hidden layers per head."""

    tasks: tuple[str, ...] = ("surface_energy", "work_function")
    atom_fea_len: int = 64
    n_conv: int = 3
    h_fea_len: int = 128
    n_hidden: int = 3
    surface_flag: bool = True  # feed the surface-flag column (SEM) or only the 92 CGCNN features
    n_atom_features: int = 92
    n_gaussians: int = 61
    n_descriptors: int = 0  # element-level descriptor columns (semcgcnn.model.descriptors), 0: none
    surface_pool: bool = (
        False  # heads also read the mean over surface-flagged atoms (WF is a surface property)
    )
    readout: str = "paper"  # "paper" (mean over atoms) or "surface" (thickness-invariant; network.SEMCGCNN)

    def __post_init__(self):
        if self.readout not in READOUTS:
            raise UserError(f"unknown readout {self.readout!r}; choose one of {', '.join(READOUTS)}")
        if self.readout == "surface" and self.surface_pool:
            raise UserError(
                "surface_pool belongs to the paper readout; the surface readout pools surface atoms itself"
            )

    @property
    def pooled_len(self) -> int:
        """Width of the crystal embedding the heads read."""
        return self.atom_fea_len * (2 if self.surface_pool else 1)

    @property
    def n_inputs(self) -> int:
        return self.n_atom_features + int(self.surface_flag) + self.n_descriptors

    def input_columns(self) -> list[int]:
        """Columns of the batch's atom features this model reads: the CGCNN features, the
        surface flag (column ``n_atom_features``) if used, then the descriptors."""
        a = self.n_atom_features
        return [*range(a), *([a] if self.surface_flag else []), *range(a + 1, a + 1 + self.n_descriptors)]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tasks"] = list(self.tasks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["tasks"] = tuple(kw.get("tasks", cls.tasks))
        return cls(**kw)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation (paper §2.3): Adam 1e-3, ×0.1 after epoch 100, best-validation model."""

    epochs: int = 150
    batch_size: int = 64
    lr: float = 1e-3
    lr_drop_epoch: int = 100
    lr_drop_factor: float = 0.1  # "reduced by 90 %" (the authors' code used 0.9; we follow the paper)
    weighting: str = "gradnorm"  # "gradnorm" or "equal"
    gradnorm_alpha: float = 1.5
    gradnorm_lr: float = 0.025
    weight_decay: float = 0.0  # Adam's L2 penalty (the paper: none); a hyper-parameter of the TPE search
    split: str = "random"  # "random" or "grouped" (by chemical system)
    seed: int = 0
    threads: int = 0  # torch intra-op threads; 0: all cores
    device: str = "cpu"  # torch device of the training loop ("cuda" on a GPU machine)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class FinetuneConfig:
    """How a checkpoint is fine-tuned on new labels (``semcgcnn finetune``;
    :func:`semcgcnn.model.training.finetune.finetune`).
    Defaults chosen by the measurement in ``reports/finetune.md``."""

    epochs: int = 50
    lr: float = 1e-4  # Adam, constant
    batch_size: int = 16
    freeze_convolutions: bool = False  # train only the heads (embedding and convolutions fixed)
    replay_fraction: float = 0.5  # share of each epoch's rows drawn afresh from the parent's training data
    seed: int = 0
    threads: int = 1  # torch intra-op threads; 0: all cores

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise UserError("epochs and batch size must be ≥ 1 and the learning rate > 0")
        if not 0.0 <= self.replay_fraction < 1.0:
            raise UserError(f"replay fraction must be in [0, 1), not {self.replay_fraction}")

    def n_replay(self, n_new: int) -> int:
        """Replay rows per epoch next to ``n_new`` new labels: f / (1 − f) of them."""
        return int(round(n_new * self.replay_fraction / (1.0 - self.replay_fraction)))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SearchSpace:
    """The TPE hyper-parameter search space (paper §2.3 tuned these with hyperopt's TPE, 200 trials;
    :mod:`semcgcnn.model.hyperopt`). Choices are tuples; ranges are ``(low, high)``. Every range holds
    the paper's configuration (the defaults of :class:`ModelConfig`, :class:`TrainConfig` and
    :class:`GraphConfig`), so the search can start from it."""

    lr: tuple[float, float] = (1e-4, 1e-2)  # Adam learning rate, log-uniform
    batch_size: tuple[int, ...] = (16, 32, 64, 128)  # crystals per batch
    atom_fea_len: tuple[int, ...] = (32, 64, 96, 128)  # atom embedding size
    h_fea_len: tuple[int, ...] = (64, 128, 256)  # hidden size of the heads
    n_conv: tuple[int, ...] = (1, 2, 3, 4, 5)  # graph convolutions
    n_hidden: tuple[int, ...] = (1, 2, 3, 4)  # hidden layers per head
    surface_depth: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0)  # Å flagged as surface from either face
    gradnorm_alpha: tuple[float, float] = (0.0, 3.0)  # GradNorm asymmetry α, uniform
    weight_decay: tuple[float, float] = (
        1e-6,
        1e-3,
    )  # Adam weight decay when on (log-uniform); off is one choice

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class HyperoptConfig:
    """One TPE search (``semcgcnn hyperopt``): budget, the fixed split it validates on, seeds.

    The objective is the best validation score of a training (the criterion training selects its
    epoch by: mean over tasks of validation MAE / training std, ``train.val_score``), so trials
    with different schedules or target scales stay comparable. ``split="grouped"`` (the default)
    holds out whole Mg–X systems for validation: screening predicts systems the model never saw,
    so that is the error worth minimising (a random split rewards memorising a system's other slabs).
    """

    max_evals: int = 20
    epochs: int = 10  # per trial; the ×0.1 learning-rate drop comes after ``lr_drop_fraction`` of them
    lr_drop_fraction: float = 2 / 3  # the paper's 100 of 150 epochs
    split: str = "grouped"  # "grouped" (by chemical system) or "random": the Mg–X split validated on
    seed: int = 0  # split, training initialisation and TPE's random state
    n_startup: int = 8  # random trials before TPE models the history (hyperopt's default: 20)
    start_from_paper: bool = True  # the first trial is the paper's configuration
    train_fraction: float = 1.0  # share of the training rows each trial trains on (a seeded subsample)
    row_stride: int = 1  # every k-th Mg–X slab only (1: all 3218; larger for quick tests)
    threads: int = 1  # torch intra-op threads; 0: all cores
    device: str = "cpu"

    def __post_init__(self):
        if self.max_evals < 1 or self.epochs < 1 or self.row_stride < 1 or self.n_startup < 0:
            raise UserError("max evals, epochs and row stride must be ≥ 1, startup trials ≥ 0")
        if self.split not in ("grouped", "random"):
            raise UserError(f"split must be grouped or random, not {self.split!r}")
        if not 0.0 < self.train_fraction <= 1.0:
            raise UserError(f"train fraction must be in (0, 1], not {self.train_fraction}")

    @property
    def lr_drop_epoch(self) -> int:
        return max(1, int(round(self.epochs * self.lr_drop_fraction)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HyperoptConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
