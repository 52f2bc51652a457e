"""The calibrated 1σ of a prediction: the ensemble members' spread s beside the distance d of the
slab to the training data in the model's own representation (:mod:`semcgcnn.model.distance`).

Per task, σ = c·√(a·s² + b·d²): (a, b) weigh the two terms by the Gaussian likelihood of held-out
errors, c scales the whole so that a chosen fraction of held-out errors lies within it. All three
are fitted on the validation *systems* of grouped splits (whole chemical systems the model never
saw), never on rows the model trained on. Without a distance term, σ = c·s (a = 1, b = 0).

d is relative (:meth:`~semcgcnn.model.distance.KNNReference.relative_distances`): 1 is how far a
typical training slab lies from the other training slabs, so weights fitted with one model's
reference carry over to another model trained the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

ONE_SIGMA = 0.6827
TWO_SIGMA = 0.9545


@dataclass(frozen=True)
class TaskSigma:
    """σ = ``scale``·√(``spread_weight``·s² + ``distance_weight``·d²) for one task."""

    scale: float
    spread_weight: float = 1.0
    distance_weight: float = 0.0

    def __call__(self, spread: np.ndarray, distance: np.ndarray | None) -> np.ndarray:
        var = self.spread_weight * np.asarray(spread, dtype=float) ** 2
        if self.distance_weight and distance is not None:
            var = var + self.distance_weight * np.asarray(distance, dtype=float) ** 2
        return self.scale * np.sqrt(var)

    def to_dict(self) -> dict[str, float]:
        return {
            "scale": self.scale,
            "spread_weight": self.spread_weight,
            "distance_weight": self.distance_weight,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TaskSigma:
        values = {
            k: d.get(k, default)
            for k, default in (("scale", None), ("spread_weight", 1.0), ("distance_weight", 0.0))
        }
        if (
            not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                for v in values.values()
            )
            or not values["scale"] > 0
        ):
            raise ValueError(f"a task's σ needs a positive scale and non-negative weights, not {d!r}")
        return cls(float(values["scale"]), float(values["spread_weight"]), float(values["distance_weight"]))


@dataclass(frozen=True)
class SigmaModel:
    """The calibrated σ of every task (``tasks`` maps a task's name to its :class:`TaskSigma`)."""

    tasks: dict[str, TaskSigma] = field(default_factory=dict)

    @property
    def uses_distance(self) -> bool:
        return any(t.distance_weight > 0 for t in self.tasks.values())

    @classmethod
    def spread_only(cls, scales: dict[str, float]) -> SigmaModel:
        """σ = scale·s per task (an ensemble card's ``calibration``)."""
        return cls({t: TaskSigma(float(s)) for t, s in scales.items()})

    def sigma(self, tasks: Sequence[str], spread: np.ndarray, distance: np.ndarray | None) -> np.ndarray:
        """(n, len(tasks)) σ from the members' std ``spread`` (n, len(tasks)) and the relative
        distance ``distance`` (n,) (``None``: spread only); a task without a σ gets NaN."""
        out = np.full(np.shape(spread), np.nan)
        for j, task in enumerate(tasks):
            if task in self.tasks:
                out[:, j] = self.tasks[task](spread[:, j], distance)
        return out


def fit_task_sigma(
    errors: np.ndarray, spread: np.ndarray, distance: np.ndarray | None, target: float = TWO_SIGMA
) -> TaskSigma:
    """The :class:`TaskSigma` of held-out ``errors`` (prediction − truth; NaN rows ignored) with
    the members' std ``spread`` and relative ``distance`` of the same rows (``None``: spread only):
    (a, b) maximise the Gaussian likelihood of the errors, then c puts a fraction ``target`` of
    |error| within c·√(a·s² + b·d²)·z, z the Gaussian quantile of ``target`` (2 at 95.45 %)."""
    from scipy.stats import norm

    err = np.asarray(errors, dtype=float)
    s = np.asarray(spread, dtype=float)
    d = None if distance is None else np.asarray(distance, dtype=float)
    ok = np.isfinite(err) & np.isfinite(s) & (True if d is None else np.isfinite(d))
    e2 = err[ok] ** 2
    terms = [s[ok] ** 2] if d is None else [s[ok] ** 2, d[ok] ** 2]
    t = np.stack(terms, axis=1)
    start = np.log([np.mean(e2 / np.maximum(t[:, j], 1e-300)) / len(terms) for j in range(len(terms))])

    def nll(theta: np.ndarray) -> float:
        var = np.maximum(t @ np.exp(theta), 1e-300)
        return float(0.5 * np.mean(np.log(var) + e2 / var))

    w = np.exp(minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10}).x)
    a, b = (float(w[0]), float(w[1])) if d is not None else (float(w[0]), 0.0)
    # normalise so a = 1 where the spread is used (c carries the size), then calibrate c
    raw = TaskSigma(1.0, 1.0, b / a)(s[ok], None if d is None else d[ok])
    z = float(norm.ppf(0.5 + target / 2))
    c = float(np.quantile(np.abs(err[ok]) / raw, target)) / z
    return TaskSigma(c, 1.0, b / a)
