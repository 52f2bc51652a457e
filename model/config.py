"""Configuration dataclasses. One home for every parameter that travels inside a checkpoint."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields


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
