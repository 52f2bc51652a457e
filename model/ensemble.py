"""Ensembles of SEM-CGCNN checkpoints: the members' mean is the prediction, their spread the
uncertainty, scaled per task by a calibration fitted on held-out data.

An ensemble is a JSON card (``format`` :data:`ENSEMBLE_FORMAT`) naming member checkpoints (safe
safetensors + JSON cards, stems relative to the ensemble card) and one scale per task; it loads
with :func:`load_ensemble` (or :func:`semcgcnn.model.predict.load_pretrained`, which recognises it).

Members are trained by :mod:`semcgcnn.model.training.ensemble`; this module loads ensembles,
writes their cards and fits their calibration, and needs no training code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint

ENSEMBLE_FORMAT = "semcgcnn-ensemble-1"
STD_SUFFIX = "_std"


def calibration_scale(y: np.ndarray, mean: np.ndarray, std: np.ndarray, target: float = 0.6827) -> float:
    """The factor s such that a fraction ``target`` of held-out errors |y − mean| lie within
    s·std (the 1σ fraction of a Gaussian by default): one number per task, fitted on validation
    rows only. NaN targets are ignored."""
    ok = np.isfinite(y) & np.isfinite(mean) & (std > 0)
    if not ok.any():
        return 1.0
    return float(np.quantile(np.abs(y[ok] - mean[ok]) / std[ok], target))


def coverage(y: np.ndarray, mean: np.ndarray, std: np.ndarray, k: float) -> float:
    """Fraction of rows with |y − mean| ≤ k·std (finite targets only)."""
    ok = np.isfinite(y)
    return float(np.mean(np.abs(y[ok] - mean[ok]) <= k * std[ok])) if ok.any() else float("nan")


def save_ensemble(path: Path, members: list[Path], calibration: dict[str, float], extra: dict | None = None) -> Path:
    """Write an ensemble card at ``path`` (``.json``) naming ``members`` (checkpoint stems,
    stored relative to the card's folder) and the per-task std scales."""
    import hashlib

    path = Path(path).with_suffix(".json")
    rel = [str(Path(m).with_suffix("").resolve().relative_to(path.parent.resolve())) for m in members]
    ids = [load_checkpoint(Path(m)).model_id for m in members]
    digest = hashlib.sha256(json.dumps([ids, calibration, (extra or {}).get("center", "mean")],
                                       sort_keys=True).encode()).hexdigest()[:12]
    card = {"format": ENSEMBLE_FORMAT, "model_id": f"semcgcnn-ens-{digest}", "members": rel, "member_ids": ids,
            "calibration": calibration, **(extra or {})}
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def is_ensemble_card(path: Path) -> bool:
    """Whether ``path`` (a ``.json`` card or its stem) is an ensemble card, not a checkpoint's."""
    path = Path(path)
    path = path if path.suffix == ".json" else path.with_suffix(".json")
    if not path.is_file() or path.with_suffix(".safetensors").exists():
        return False
    try:
        return json.loads(path.read_text()).get("format") == ENSEMBLE_FORMAT
    except (ValueError, UnicodeDecodeError, AttributeError):
        return False


@dataclass
class Ensemble:
    card: dict
    members: list[Checkpoint]

    @property
    def model_id(self) -> str:
        return self.card["model_id"]

    @property
    def calibration(self) -> dict[str, float]:
        return self.card["calibration"]

    @property
    def center(self) -> str:
        """``mean`` (the members' mean predicts) or ``first`` (the first member predicts; the
        members' spread is its uncertainty)."""
        return self.card.get("center", "mean")


def load_ensemble(path: Path) -> Ensemble:
    """Load an ensemble card and its members (each checked as any checkpoint); the members must
    share graph config, tasks and element descriptors."""
    path = Path(path)
    path = path if path.suffix == ".json" else path.with_suffix(".json")
    card = json.loads(path.read_text())
    if card.get("format") != ENSEMBLE_FORMAT or not card.get("members"):
        raise CheckpointError(f"{path}: not an ensemble card")
    members = [load_checkpoint(path.parent / m) for m in card["members"]]
    first = members[0]
    for m in members[1:]:
        if m.graph_config.key() != first.graph_config.key() or m.tasks != first.tasks:
            raise CheckpointError(f"{path}: members disagree on graph config or tasks")
        if m.card.get("element_descriptors") != first.card.get("element_descriptors"):
            raise CheckpointError(f"{path}: members disagree on element descriptors")
    return Ensemble(card, members)
