"""The one home of the applicability verdict: is a structure (or a prediction) inside what the
model saw in training?

A structure is out of domain when it holds elements the model never saw, or anion chemistry
(oxides, nitrides, halides, hydrides) that the intermetallic training slabs do not cover; a
prediction is also out of domain when its surface energy is ≤ 0 (no surface: the model
extrapolated). Every prediction row and every screened compound carries the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


def element_symbols(structure) -> list[str]:
    """Sorted element symbols of a pymatgen structure."""
    return sorted({el.symbol for el in structure.composition.elements})


def element_verdict(elements: Sequence[str], training_elements: frozenset[str]) -> Verdict:
    """The verdict for a structure of these element symbols (no training elements known: none unseen)."""
    unseen = sorted(set(elements) - training_elements) if training_elements else []
    anions = sorted(set(elements) & ANION_ELEMENTS)
    reasons = ([f"elements unseen in training: {', '.join(unseen)}"] if unseen else []) + (
        [f"anion chemistry ({', '.join(anions)}) outside the intermetallic training slabs"] if anions else [])
    return Verdict(",".join(unseen), bool(reasons), "; ".join(reasons) if reasons else IN_DOMAIN)


def prediction_verdicts(elements: Sequence[Sequence[str]], surface_energy: np.ndarray,
                        training_elements: frozenset[str]) -> list[Verdict]:
    """Per predicted row: the element verdict, plus the flag for a surface energy ≤ 0."""
    out = []
    for els, se in zip(elements, surface_energy, strict=True):
        v = element_verdict(els, training_elements)
        if np.isfinite(se) and not se > 0:
            reason = UNPHYSICAL if v.applicability == IN_DOMAIN else f"{v.applicability}; {UNPHYSICAL}"
            v = Verdict(v.unseen_elements, True, reason)
        out.append(v)
    return out
