"""Train/validation/test splits: random (paper) and grouped by chemical system (screening)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def random_split(
    n: int,
    seed: int,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random 60/20/20 split of ``n`` rows (indices), reproducible from ``seed`` (``fractions``:
    the train, validation and test fractions)."""
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return np.sort(perm[:n_train]), np.sort(perm[n_train : n_train + n_val]), np.sort(perm[n_train + n_val :])


def grouped_split(
    groups: np.ndarray | Sequence[str],
    seed: int,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split whole groups (chemical systems): shuffled systems fill test, then validation, to
    about the requested fractions of rows; the rest is training. No system is in two splits.

    ``groups``: each row's group; ``seed``: the shuffling seed; ``fractions``: the train,
    validation and test fractions of rows.
    """
    groups = np.asarray(groups)
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    n = len(groups)
    assign = np.zeros(len(names), dtype=np.int64)  # 0 train, 1 val, 2 test
    filled = {1: 0, 2: 0}
    for g in order:
        for part in (2, 1):
            if filled[part] + counts[g] / 2 <= fractions[part] * n:
                assign[g] = part
                filled[part] += counts[g]
                break
    rows = assign[inverse]
    return tuple(np.flatnonzero(rows == k) for k in (0, 1, 2))  # type: ignore[return-value]


def make_split(
    kind: str,
    n: int,
    groups: np.ndarray | Sequence[str],
    seed: int,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test row indices of ``n`` rows: :func:`random_split` (``kind``
    "random") or :func:`grouped_split` of ``groups`` (each row's chemical system; ``kind``
    "grouped"), reproducible from ``seed`` (``fractions``: the train, validation and test fractions)."""
    if kind == "random":
        return random_split(n, seed, fractions)
    if kind == "grouped":
        return grouped_split(groups, seed, fractions)
    raise ValueError(f"unknown split {kind!r}: use 'random' or 'grouped'")
