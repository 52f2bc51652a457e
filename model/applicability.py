"""The one home of the applicability verdict: is a structure (or a prediction) inside what the
model saw in training?

A structure is out of domain when it holds elements the model never saw, or anion chemistry
(oxides, nitrides, halides, hydrides) that the intermetallic training slabs do not cover; a
prediction is also out of domain when its surface energy is ≤ 0 (no surface: the model
extrapolated). Every prediction row and every screened compound carries the verdict.

A value can also lie outside what the model was taught: :func:`training_label_range` is the
1st–99th percentile of the shipped Mg–X training labels, against which the screen checks its
Wulff-weighted values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

ANION_ELEMENTS = frozenset({"H", "N", "O", "F", "Cl", "Br", "I"})
"""Ionic/covalent partners outside intermetallic chemistry: a structure containing any is flagged."""

IN_DOMAIN = "in domain"
UNPHYSICAL = "predicted surface energy ≤ 0 (unphysical)"


@dataclass(frozen=True)
class Verdict:
    """``unseen_elements`` (comma list), ``out_of_domain`` and a one-line ``applicability`` reason."""

    unseen_elements: str
    out_of_domain: bool
    applicability: str

    def as_tuple(self) -> tuple[str, bool, str]:
        return self.unseen_elements, self.out_of_domain, self.applicability


def element_symbols(structure: Structure) -> list[str]:
    """Sorted element symbols of a pymatgen structure (``structure``)."""
    return sorted({el.symbol for el in structure.composition.elements})


def element_verdict(elements: Sequence[str], training_elements: frozenset[str]) -> Verdict:
    """The verdict for a structure of these element symbols (no training elements known: none unseen)."""
    unseen = sorted(set(elements) - training_elements) if training_elements else []
    anions = sorted(set(elements) & ANION_ELEMENTS)
    reasons = ([f"elements unseen in training: {', '.join(unseen)}"] if unseen else []) + (
        [f"anion chemistry ({', '.join(anions)}) outside the intermetallic training slabs"] if anions else []
    )
    return Verdict(",".join(unseen), bool(reasons), "; ".join(reasons) if reasons else IN_DOMAIN)


def prediction_verdicts(
    elements: Sequence[Sequence[str]], surface_energy: np.ndarray, training_elements: frozenset[str]
) -> list[Verdict]:
    """Per predicted row: the element verdict, plus the flag for a surface energy ≤ 0."""
    out = []
    for els, se in zip(elements, surface_energy, strict=True):
        v = element_verdict(els, training_elements)
        if np.isfinite(se) and not se > 0:
            reason = UNPHYSICAL if v.applicability == IN_DOMAIN else f"{v.applicability}; {UNPHYSICAL}"
            v = Verdict(v.unseen_elements, True, reason)
        out.append(v)
    return out


LABEL_PERCENTILES = (1.0, 99.0)
"""The percentiles of the training labels that bound the range a prediction is trusted in."""
LABEL_DATASET = "mg_binary_slabs"
"""The shipped model's training set: 3218 DFT Mg–X slabs."""


@cache
def training_label_range(dataset: str = LABEL_DATASET) -> dict[str, tuple[float, float]]:
    """``{"surface_energy_eV_per_A2": (lo, hi), "work_function_eV": (lo, hi)}``: the
    :data:`LABEL_PERCENTILES` of the dataset's labels (computed once per process). For the
    shipped Mg–X slabs, γ 0.0178–0.176 eV/Å² (0.285–2.82 J/m²) and Φ 2.58–5.22 eV."""
    from semcgcnn.datasets import labels

    df = labels(dataset)
    return {
        col: (
            float(np.percentile(df[col], LABEL_PERCENTILES[0])),
            float(np.percentile(df[col], LABEL_PERCENTILES[1])),
        )
        for col in ("surface_energy_eV_per_A2", "work_function_eV")
    }
