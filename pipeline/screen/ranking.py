"""The rankings of a screen's trusted intermetallic Wulff rows (:func:`ranked_rows`), and how
settled each compound's place is: the probability that it is among the top k of a ranking, from its
value and calibrated 1σ. Semiconductors/Zintl phases and ionic compounds (:mod:`.compound_class`)
are not what the screen is for and compete in no ranking, trusted or not.

Each compound's Wulff-weighted value is drawn from N(value, σ²), independently per compound, many
times with a fixed seed; a compound's probability is the fraction of draws in which it is among
the k best. Compounds of one chemical system share part of their error, so independence makes
close rank orders inside a system look less settled than they are; between systems it is what the
calibrated σ says. Rows that are not ranked (or have no σ) get NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .compound_class import INTERMETALLIC
from .rows import TRUSTED

TOP_K = 10
DRAWS = 4096


@dataclass(frozen=True)
class Ranking:
    """One ranking of the wulff table: its label, value column, direction, unit, 1σ column and
    the factor from the 1σ column's unit to the value's."""

    label: str
    column: str
    ascending: bool
    unit: str
    std_column: str
    std_factor: float
    probability_column: str


RANKINGS = (
    Ranking(
        "lowest Wulff work function",
        "weighted_work_function_eV",
        True,
        "eV",
        "weighted_work_function_eV_std",
        1.0,
        f"p_top{TOP_K}_lowest_work_function",
    ),
    Ranking(
        "highest Wulff work function",
        "weighted_work_function_eV",
        False,
        "eV",
        "weighted_work_function_eV_std",
        1.0,
        f"p_top{TOP_K}_highest_work_function",
    ),
    Ranking(
        "lowest weighted surface energy",
        "weighted_surface_energy_J_per_m2",
        True,
        "J/m²",
        "weighted_surface_energy_J_per_m2_std",
        1.0,
        f"p_top{TOP_K}_lowest_surface_energy",
    ),
)


PROBABILITY_COLUMNS = tuple(r.probability_column for r in RANKINGS)


def unranked(wulff: pd.DataFrame) -> pd.DataFrame:
    """``wulff`` rows of one batch, whose ranks are not known yet: NaN probability columns, which
    :func:`with_top_k` fills once every compound is in."""
    return wulff.assign(**{c: np.nan for c in PROBABILITY_COLUMNS})


def top_k_probability(
    values: np.ndarray,
    sigma: np.ndarray,
    k: int = TOP_K,
    ascending: bool = True,
    draws: int = DRAWS,
    seed: int = 0,
) -> np.ndarray:
    """(n,) probability of each of ``values`` (1σ ``sigma``) being among the ``k`` lowest
    (``ascending``) or highest; NaN where a value or σ is not finite (those rows do not compete)."""
    values, sigma = np.asarray(values, dtype=float), np.asarray(sigma, dtype=float)
    out = np.full(len(values), np.nan)
    ok = np.flatnonzero(np.isfinite(values) & np.isfinite(sigma))
    if not len(ok):
        return out
    if len(ok) <= k:
        out[ok] = 1.0
        return out
    rng = np.random.default_rng(seed)
    sample = values[ok] + sigma[ok] * rng.standard_normal((draws, len(ok)))
    sample = sample if ascending else -sample
    top = np.argpartition(sample, k - 1, axis=1)[:, :k]
    out[ok] = np.bincount(top.ravel(), minlength=len(ok)) / draws
    return out


def ranked_rows(wulff: pd.DataFrame) -> np.ndarray:
    """(n,) bool: the ``wulff`` rows the rankings compete over: trusted intermetallics."""
    if not len(wulff):
        return np.zeros(0, bool)
    return ((wulff["trust"] == TRUSTED) & (wulff["compound_class"] == INTERMETALLIC)).to_numpy(bool)


def with_top_k(wulff: pd.DataFrame) -> pd.DataFrame:
    """``wulff`` with every ranking's probability of the top :data:`TOP_K`, over its trusted
    intermetallic rows (:func:`ranked_rows`); NaN for the others."""
    wulff = wulff.copy()
    ranked = ranked_rows(wulff)
    for r in RANKINGS:
        values = np.where(ranked, wulff[r.column].to_numpy(float), np.nan) if len(wulff) else np.zeros(0)
        sigma = wulff[r.std_column].to_numpy(float) * r.std_factor if len(wulff) else np.zeros(0)
        wulff[r.probability_column] = top_k_probability(values, sigma, TOP_K, r.ascending)
    return wulff
