"""Ensembles of SEM-CGCNN checkpoints: the members' mean is the prediction, their spread the
uncertainty, scaled per task by a calibration fitted on held-out data.

An ensemble is a JSON card (``format`` :data:`ENSEMBLE_FORMAT`) naming member checkpoints (safe
safetensors + JSON cards, stems relative to the ensemble card) and one scale per task; it loads
with :func:`load_ensemble` (or :func:`semcgcnn.model.predict.load_pretrained`, which recognises it).

Members (:func:`perturbed_member`): a trained parent checkpoint, trained a few epochs more on a
bootstrap resample of its own training rows with its own seed. Not independent trainings from
scratch (5 × 46 min on this CPU): a cheaper ensemble whose spread is calibrated (:func:`calibration_scale`)
rather than trusted raw.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import (SHIPPED_MODEL, Checkpoint, CheckpointError, load_checkpoint, read_card,
                         resolve_checkpoint, save_checkpoint)

log = logging.getLogger(__name__)
ENSEMBLE_FORMAT = "semcgcnn-ensemble-1"
STD_SUFFIX = "_std"


@dataclass(frozen=True)
class MemberConfig:
    """How a perturbed member is trained from its parent (the one place these defaults live)."""

    epochs: int = 6
    lr: float = 3e-4
    batch_size: int = 64
    bootstrap: bool = True  # train on a resample (with replacement) of the parent's training rows
    threads: int = 1


def perturbed_member(parent: Checkpoint, pool, seed: int, cfg: MemberConfig = MemberConfig(), val=None):
    """A copy of ``parent`` trained ``cfg.epochs`` more epochs on a bootstrap resample of ``pool``
    (:func:`~semcgcnn.model.training.finetune.replay_pool`) with seed ``seed``; returns the model. With
    ``val`` (GraphTensors of the parent's validation rows), the state of the epoch with the best
    validation score (as training selects: mean task MAE / training std) is kept, as the parent
    itself was selected; otherwise the last."""
    from .data import GraphTensors
    from .training.finetune import _epoch
    from .training.gradnorm import TaskWeights
    from .network import SEMCGCNN
    from .training.train import _val_score, evaluate

    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = SEMCGCNN(parent.model.cfg)
    model.load_state_dict(parent.model.state_dict())
    rows = rng.integers(0, len(pool), len(pool)) if cfg.bootstrap else np.arange(len(pool))
    rows = np.sort(rows)
    data = GraphTensors(pool.graphs.subset(rows), pool.y[rows], descriptors=parent.descriptor_table)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    weighting = TaskWeights(len(model.cfg.tasks))
    best = (math.inf, None)
    for epoch in range(cfg.epochs):
        loss = _epoch(model, opt, weighting, data, rng, cfg.batch_size, parent.normalizer)
        score = _val_score(evaluate(model, val, np.arange(len(val)), parent.normalizer), parent.normalizer,
                           model.cfg.tasks) if val is not None else -epoch
        if score < best[0]:
            best = (score, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch + 1)
        log.info("member seed %d: epoch %d/%d, train loss %.4f, val score %.4f", seed, epoch + 1, cfg.epochs, loss,
                 score)
    model.load_state_dict(best[1])
    model.eval()
    log.info("member seed %d: kept epoch %d", seed, best[2])
    return model


def save_member(out: Path, model, parent: Checkpoint, seed: int, cfg: MemberConfig) -> Path:
    """A member as a safe checkpoint: the parent's configs, normaliser and card, plus how it was made."""
    from .config import TrainConfig

    card = parent.card
    keep = ("recipe", "element_descriptors", "training_elements", "training_systems", "validation_systems",
            "test_systems", "never_seen_systems")
    extra = {**{k: card[k] for k in keep if k in card}, "parent_model_id": parent.model_id,
             "ensemble_member": {"seed": seed, **asdict(cfg)}, "evaluation": {}}
    train_config = TrainConfig.from_dict(card["train_config"]) if card.get("train_config") else None
    return save_checkpoint(out, model, parent.graph_config, parent.normalizer, train_config,
                           training_data=card.get("training_data", {}), metrics={}, extra=extra)


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


def ensemble_id(member_ids: list[str], calibration: dict[str, float], center: str = "mean") -> str:
    """The model id of an ensemble: derived from its members' ids (each derived from its weights'
    hash), its calibration and its centre, so an id in an output table names what made it."""
    import hashlib

    text = json.dumps([member_ids, calibration, center], sort_keys=True)
    return f"semcgcnn-ens-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def save_ensemble(path: Path, members: list[Path], calibration: dict[str, float], extra: dict | None = None) -> Path:
    """Write an ensemble card at ``path`` (``.json``) naming ``members`` (checkpoint stems,
    stored relative to the card's folder, and their model ids) and the per-task std scales."""
    path = Path(path).with_suffix(".json")
    rel = [str(Path(m).with_suffix("").resolve().relative_to(path.parent.resolve())) for m in members]
    ids = [load_checkpoint(Path(m)).model_id for m in members]
    model_id = ensemble_id(ids, calibration, (extra or {}).get("center", "mean"))
    card = {"format": ENSEMBLE_FORMAT, "model_id": model_id, "members": rel, "member_ids": ids,
            "calibration": calibration, **(extra or {})}
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path


def is_ensemble_card(path: Path) -> bool:
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

    @property
    def center(self) -> str:
        """``mean`` (the members' mean predicts) or ``first`` (the first member predicts; the
        members' spread is its uncertainty)."""
        return self.card.get("center", "mean")


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
    if not (isinstance(names, list) and 0 < len(names) <= MAX_MEMBERS
            and all(isinstance(m, str) and m for m in names)):
        raise fail(f"members must be a non-empty list of checkpoint paths (at most {MAX_MEMBERS})")
    if not (isinstance(ids, list) and len(ids) == len(names) and all(isinstance(i, str) for i in ids)):
        raise fail("member_ids must list one model id per member")
    calibration = card.get("calibration")
    if not (isinstance(calibration, dict) and calibration and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
            for v in calibration.values())):
        raise fail("calibration must map each task to a positive number")
    center = card.get("center", "mean")
    if center not in CENTERS:
        raise fail(f"center must be {' or '.join(map(repr, CENTERS))}, not {center!r}")
    if card["model_id"] != ensemble_id(ids, calibration, center):
        raise fail(f"model_id {card['model_id']!r} is not the id of its members and calibration "
                   f"(expected {ensemble_id(ids, calibration, center)!r})")
    members = [_member(path, name, mid, fail) for name, mid in zip(names, ids, strict=True)]
    first = members[0]
    for m in members[1:]:
        if m.graph_config.key() != first.graph_config.key() or m.tasks != first.tasks:
            raise fail("members disagree on graph config or tasks")
        if m.card.get("element_descriptors") != first.card.get("element_descriptors"):
            raise fail("members disagree on element descriptors")
    if set(first.tasks) - set(calibration):
        raise fail("calibration must map each task to a positive number "
                   f"(no scale for {', '.join(sorted(set(first.tasks) - set(calibration)))})")
    return Ensemble(card, members)


def _member(card_path: Path, name: str, model_id: str, fail) -> Checkpoint:
    """Member ``name`` of the ensemble card at ``card_path``: a checkpoint stem whose files (links
    followed) lie in the card's folder or the shipped weights folder, whose model id is ``model_id``."""
    stem = resolve_checkpoint(card_path.parent / name)
    roots = (card_path.parent.resolve(), SHIPPED_MODEL.parent.resolve())
    for f in (stem.with_suffix(".json"), stem.with_suffix(".safetensors")):
        if not any(f.resolve().is_relative_to(root) for root in roots):
            raise fail(f"member {name!r} is outside the card's folder (members must be checkpoints in "
                       "the card's folder or the shipped weights folder)")
    member = load_checkpoint(stem)
    if member.model_id != model_id:
        raise fail(f"member {name!r} is {member.model_id}, not the {model_id} the card names")
    return member


def finetune_ensemble(card_path: Path, extra, cfg=None, out: Path | None = None) -> Path:
    """Fine-tune every member of the ensemble at ``card_path`` on ``extra`` labels (member i with
    seed ``cfg.seed + i``) and write a new ensemble card at ``out`` (members in ``OUT-members/``),
    with the parent's calibration; returns the card path."""
    from dataclasses import replace

    from .config import FinetuneConfig
    from .training.extra_labels import ExtraLabels, load_extra_labels
    from .training.finetune import finetune

    cfg = cfg or FinetuneConfig()
    ens = load_ensemble(card_path)
    labels = extra if isinstance(extra, ExtraLabels) else load_extra_labels(extra, ens.members[0].graph_config)
    out = Path(out).with_suffix("")
    folder = out.parent / f"{out.name}-members"
    folder.mkdir(parents=True, exist_ok=True)
    stems = []
    for i, member in enumerate(ens.members):
        res = finetune(member, labels, replace(cfg, seed=cfg.seed + i), out=folder / f"member-{i}", progress=False)
        stems.append(Path(res.card_path).with_suffix(""))
    return save_ensemble(out.with_suffix(".json"), stems, ens.calibration,
                         {"parent_model_id": ens.model_id, "center": ens.center,
                          "description": f"{ens.model_id} with every member fine-tuned on {len(labels)} new labels"})
