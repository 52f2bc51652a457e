"""Regression metrics per task, ignoring rows where the target is missing."""

from __future__ import annotations

import numpy as np


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    ok = np.isfinite(y_true)
    t, p = y_true[ok], y_pred[ok]
    if len(t) == 0:
        return {"n": 0, "mae": float("nan"), "rmse": float("nan"), "r2": float("nan")}
    err = p - t
    ss_tot = float(((t - t.mean()) ** 2).sum())
    return {
        "n": int(len(t)),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1.0 - (err**2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
    }
