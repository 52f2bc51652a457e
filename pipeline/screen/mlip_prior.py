"""The opt-in ML-potential prior on the surface energy (measured in
``studies/mlip_prior.py``, ``reports/mlip_prior.md``).

For a slab whose elements SevenNet 7net-0 knows, γ_MLIP = (E_slab − N·e_hull(x)) / 2A, where
``e_hull(x)`` is the 7net-0 convex hull of the slab's chemical system (the shipped Mg–X bulks of
that system and the lowest-energy elemental references) at the slab's composition, and A one face's
area. The network's value is then blended with the line the study fitted:

    γ = w·γ_net + (1 − w)·(a·γ_MLIP + b)

and each ensemble member's value the same way, so the calibrated 1σ shrinks by w. Slabs without a
γ_MLIP keep γ_net. The work function is untouched. ``a``, ``b`` and ``w`` are in the card
``model/weights/semcgcnn-mg-mlip-prior.json``. The cost is one 7net-0 single point per slab (bulks and
elements once per system), about 20 times the network's screening time.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from semcgcnn.geometry import face_area
from semcgcnn.model.uncertainty import SigmaModel, TaskSigma
from semcgcnn.pipeline.labelling.mlip import (
    DEFAULT_MLIP,
    mlip_energy_per_atom,
    mlip_reference_energy,
    model_elements,
)
from semcgcnn.pipeline.labelling.references import reference_elements

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from semcgcnn.model.predict import Predictor


def prior_card_path() -> Path:
    from semcgcnn.model.checkpoint import SHIPPED_MODEL

    return SHIPPED_MODEL.with_name("semcgcnn-mg-mlip-prior.json")


@dataclass(frozen=True)
class PriorCard:
    """The blend's coefficients, fitted by the study (see the card's ``fitted_on``)."""

    line_a: float
    line_b_eV_per_A2: float
    weight_network: float
    card_id: str

    @classmethod
    def load(cls, path: Path | None = None) -> PriorCard:
        import hashlib

        path = Path(path) if path else prior_card_path()
        d = json.loads(path.read_text())
        digest = hashlib.sha256(
            json.dumps([d["line_a"], d["line_b_eV_per_A2"], d["weight_network"]]).encode()
        )
        return cls(
            float(d["line_a"]),
            float(d["line_b_eV_per_A2"]),
            float(d["weight_network"]),
            f"mlip-prior-{digest.hexdigest()[:8]}",
        )

    def blend(self, network: np.ndarray, gamma_mlip: np.ndarray) -> np.ndarray:
        """γ from the network's values (any shape whose last axis is the slabs) and γ_MLIP per slab."""
        line = self.line_a * gamma_mlip + self.line_b_eV_per_A2
        w = self.weight_network
        return np.where(np.isfinite(gamma_mlip), w * network + (1.0 - w) * line, network)


@functools.cache
def _system_diagram(elements: frozenset[str]):
    """7net-0 phase diagram of a chemical system: shipped bulks of the system and elemental refs."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    from semcgcnn.datasets import load

    entries = [PDEntry(Composition(el), mlip_reference_energy(el)) for el in sorted(elements)]
    for b in load("mg_binary_bulk"):
        comp = b.structure.composition
        if {e.symbol for e in comp.elements} <= elements and len(comp.elements) > 1:
            entries.append(PDEntry(comp, mlip_energy_per_atom(b.structure) * comp.num_atoms))
    return PhaseDiagram(entries)


def gamma_mlip(slab: Structure) -> float:
    """γ_MLIP of one slab in eV/Å² (NaN where 7net-0 or the shipped references lack an element).

    ``slab`` is a pymatgen ``Slab``/``Structure`` whose two faces are each of its cell's ab area."""
    comp = slab.composition
    elements = frozenset(e.symbol for e in comp.elements)
    known = model_elements(DEFAULT_MLIP) or frozenset()
    if not elements <= known or not elements <= reference_elements():
        return math.nan
    e_hull = _system_diagram(elements).get_hull_energy_per_atom(comp)
    return (mlip_energy_per_atom(slab) - e_hull) * len(slab) / (2.0 * face_area(slab.lattice.matrix))


class PriorPredictor:
    """A :class:`~semcgcnn.model.predict.Predictor` whose surface energies carry the prior; any other
    attribute is the wrapped predictor's. Its ``model_id`` names the prior, so a screen made
    without it is never resumed with it. ``predictor`` is the wrapped predictor; ``card`` the prior's
    fitted line and weight (default: the shipped card, :meth:`PriorCard.load`)."""

    def __init__(self, predictor: Predictor, card: PriorCard | None = None):
        self._inner = predictor
        self.card = card or PriorCard.load()

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    @property
    def model_id(self) -> str:
        return f"{self._inner.model_id}+{self.card.card_id}"

    def predict(
        self,
        structures: Sequence,
        ids: Sequence[str] | None = None,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
        keep_members: bool = False,
    ) -> pd.DataFrame:
        """As :meth:`Predictor.predict`, with every member's surface energy blended with the prior
        before the centre and the calibrated 1σ are taken."""
        from semcgcnn.model.applicability import element_symbols
        from semcgcnn.model.graphs import featurize_structures

        inner = self._inner
        ids = [str(i) for i in (ids if ids is not None else range(len(structures)))]
        graphs = featurize_structures(
            list(structures), ids, inner.graph_config, workers=workers, progress=progress
        )
        members = inner.predict_members(graphs)
        members = members[None] if members.ndim == 2 else members
        k = list(inner.checkpoint.tasks).index("surface_energy")
        members[..., k] = self.card.blend(members[..., k], np.array([gamma_mlip(s) for s in structures]))
        elements = [element_symbols(s) for s in structures]
        distance = inner.distance(graphs)
        df = inner.frame(ids, members, elements, keep_members, distance)
        if len(members) > 1:  # the blended γ's σ: the network's share of it (sigma_model)
            sigma = self.sigma_model.sigma(inner.checkpoint.tasks, members.std(axis=0, ddof=1), distance)
            df["surface_energy_eV_per_A2_std"] = sigma[:, k]
        df["model_id"] = self.model_id
        return df

    @property
    def sigma_model(self) -> SigmaModel:
        """The wrapped model's σ with the surface energy's distance term scaled as its spread is:
        the blend takes a fraction w of the network's γ, so the network's whole σ scales by w."""
        inner = self._inner.sigma_model
        w = self.card.weight_network
        tasks = dict(inner.tasks)
        if "surface_energy" in tasks:
            t = tasks["surface_energy"]
            tasks["surface_energy"] = TaskSigma(t.scale, t.spread_weight, t.distance_weight * w**2)
        return SigmaModel(tasks)
