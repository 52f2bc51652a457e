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
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import (
    SHIPPED_MODEL,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    read_card,
    resolve_checkpoint,
)
from .distance import KNNReference
from .uncertainty import SigmaModel, TaskSigma

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


def ensemble_id(
    member_ids: list[str], calibration: dict[str, float], center: str = "mean", distance: dict | None = None
) -> str:
    """The model id of an ensemble: derived from its members' ids (each derived from its weights'
    hash), its calibration, its centre and its distance term (where it has one: the reference's
    hash and the σ weights), so an id in an output table names what made it."""
    import hashlib

    parts = [member_ids, calibration, center] + ([distance] if distance else [])
    text = json.dumps(parts, sort_keys=True)
    return f"semcgcnn-ens-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def save_ensemble(
    path: Path, members: list[Path], calibration: dict[str, float], extra: dict | None = None
) -> Path:
    """Write an ensemble card at ``path`` (``.json``) naming ``members`` (checkpoint stems,
    stored relative to the card's folder, and their model ids) and the per-task std scales."""
    path = Path(path).with_suffix(".json")
    rel = [str(Path(m).with_suffix("").resolve().relative_to(path.parent.resolve())) for m in members]
    ids = [load_checkpoint(Path(m)).model_id for m in members]
    model_id = ensemble_id(
        ids, calibration, (extra or {}).get("center", "mean"), (extra or {}).get("distance")
    )
    card = {
        "format": ENSEMBLE_FORMAT,
        "model_id": model_id,
        "members": rel,
        "member_ids": ids,
        "calibration": calibration,
        **extra,
    }
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def is_ensemble_card(path: Path) -> bool:
    """Whether ``path`` (a ``.json`` card or its stem) is an ensemble card, not a checkpoint's."""
    path = Path(path)
    path = path if path.suffix == ".json" else path.with_suffix(".json")
    if not path.is_file() or path.with_suffix(".safetensors").exists():
        return False
    try:
        return read_card(path, "ensemble").get("format") == ENSEMBLE_FORMAT
    except (CheckpointError, OSError):
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

    reference: KNNReference | None = None
    """The first member's training embeddings, for the distance term of σ (``None``: spread only)."""

    @property
    def center(self) -> str:
        """``mean`` (the members' mean predicts) or ``first`` (the first member predicts; the
        members' spread is its uncertainty)."""
        return self.card.get("center", "mean")

    @property
    def sigma_model(self) -> SigmaModel:
        """σ per task: spread and distance where the card has a distance term, else spread only."""
        if self.reference is None:
            return SigmaModel.spread_only(self.calibration)
        return SigmaModel({t: TaskSigma.from_dict(v) for t, v in self.card["distance"]["sigma"].items()})


MAX_MEMBERS = 64
CENTERS = ("mean", "first")


def load_ensemble(path: Path) -> Ensemble:
    """Load an ensemble card and its members, verified: the card is well formed (members,
    member_ids, a positive calibration per task, the centre), its ``model_id`` is the one derived
    from them (:func:`ensemble_id`), every member is a checkpoint in the card's folder (or the
    shipped weights folder), checked as any checkpoint, whose model id is the one the card names,
    and the members share graph config, tasks and element descriptors. Any problem is a one-line
    :class:`CheckpointError`."""
    path = Path(path)
    path = path if path.suffix == ".json" else path.with_suffix(".json")
    card = read_card(path, "ensemble")
    fail = lambda problem: CheckpointError(f"{path}: {problem}")  # noqa: E731
    if card.get("format") != ENSEMBLE_FORMAT:
        raise fail("not an ensemble card")
    if not isinstance(card.get("model_id"), str):
        raise fail(f"model_id must be a string, not {card.get('model_id')!r}")
    names, ids = card.get("members"), card.get("member_ids")
    if not (
        isinstance(names, list)
        and 0 < len(names) <= MAX_MEMBERS
        and all(isinstance(m, str) and m for m in names)
    ):
        raise fail(f"members must be a non-empty list of checkpoint paths (at most {MAX_MEMBERS})")
    if not (isinstance(ids, list) and len(ids) == len(names) and all(isinstance(i, str) for i in ids)):
        raise fail("member_ids must list one model id per member")
    calibration = card.get("calibration")
    if not (
        isinstance(calibration, dict)
        and calibration
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in calibration.values()
        )
    ):
        raise fail("calibration must map each task to a positive number")
    center = card.get("center", "mean")
    if center not in CENTERS:
        raise fail(f"center must be {' or '.join(map(repr, CENTERS))}, not {center!r}")
    distance = card.get("distance")
    expected = ensemble_id(ids, calibration, center, distance)
    if card["model_id"] != expected:
        raise fail(
            f"model_id {card['model_id']!r} is not the id of its members and calibration "
            f"(expected {expected!r})"
        )
    members = [_member(path, name, mid, fail) for name, mid in zip(names, ids, strict=True)]
    first = members[0]
    for m in members[1:]:
        if m.graph_config.key() != first.graph_config.key() or m.tasks != first.tasks:
            raise fail("members disagree on graph config or tasks")
        if m.card.get("element_descriptors") != first.card.get("element_descriptors"):
            raise fail("members disagree on element descriptors")
    if set(first.tasks) - set(calibration):
        raise fail(
            "calibration must map each task to a positive number "
            f"(no scale for {', '.join(sorted(set(first.tasks) - set(calibration)))})"
        )
    reference = _distance_reference(path, distance, first.tasks, fail) if distance else None
    return Ensemble(card, members, reference)


def _distance_reference(
    card_path: Path, distance: dict, tasks: list[str], fail: Callable[[str], CheckpointError]
) -> KNNReference:
    """The verified kNN reference of a card's ``distance`` section: a safetensors file in the
    card's folder whose sha256 the section names, and a σ for every task."""
    if not isinstance(distance, dict) or not isinstance(distance.get("reference"), str):
        raise fail("distance must name its reference file")
    sigma = distance.get("sigma")
    if not isinstance(sigma, dict) or set(tasks) - set(sigma):
        raise fail(f"distance.sigma must give every task's σ ({', '.join(tasks)})")
    try:
        for v in sigma.values():
            TaskSigma.from_dict(v if isinstance(v, dict) else {})
    except ValueError as e:
        raise fail(f"distance.sigma: {e}") from None
    ref_path = (card_path.parent / distance["reference"]).resolve()
    if not ref_path.is_relative_to(card_path.parent.resolve()) or ref_path.suffix != ".safetensors":
        raise fail("distance.reference must be a .safetensors file in the card's folder")
    if not ref_path.is_file():
        raise fail(f"distance reference {distance['reference']} is missing")
    try:
        return KNNReference.load(ref_path, str(distance.get("reference_sha256", "")))
    except (ValueError, KeyError, OSError) as e:
        raise fail(f"distance reference: {e}") from None


def _member(card_path: Path, name: str, model_id: str, fail: Callable[[str], CheckpointError]) -> Checkpoint:
    """Member ``name`` of the ensemble card at ``card_path``: a checkpoint stem whose files (links
    followed) lie in the card's folder or the shipped weights folder, whose model id is ``model_id``."""
    stem = resolve_checkpoint(card_path.parent / name)
    roots = (card_path.parent.resolve(), SHIPPED_MODEL.parent.resolve())
    for f in (stem.with_suffix(".json"), stem.with_suffix(".safetensors")):
        if not any(f.resolve().is_relative_to(root) for root in roots):
            raise fail(
                f"member {name!r} is outside the card's folder (members must be checkpoints in "
                "the card's folder or the shipped weights folder)"
            )
    member = load_checkpoint(stem)
    if member.model_id != model_id:
        raise fail(f"member {name!r} is {member.model_id}, not the {model_id} the card names")
    return member
