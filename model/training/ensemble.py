"""Training ensemble members: perturbed copies of a trained checkpoint, and an ensemble fine-tuned
member by member on new labels. Loading, cards and calibration: :mod:`semcgcnn.model.ensemble`.

A perturbed member (:func:`perturbed_member`) is a trained parent checkpoint, trained a few epochs
more on a bootstrap resample of its own training rows with its own seed. Not independent trainings
from scratch (5 × 46 min on this CPU): a cheaper ensemble whose spread is calibrated
(:func:`~semcgcnn.model.ensemble.calibration_scale`) rather than trusted raw.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from semcgcnn.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from semcgcnn.model.config import FinetuneConfig, TrainConfig
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.ensemble import load_ensemble, save_ensemble
from semcgcnn.model.network import SEMCGCNN

from .extra_labels import ExtraLabels, load_extra_labels
from .finetune import ReplayPool, finetune
from .gradnorm import TaskWeights
from .loop import train_epoch
from .reference import REFERENCE_FILE, distance_section, training_reference
from .train import evaluate, val_score

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberConfig:
    """How a perturbed member is trained from its parent (the one place these defaults live)."""

    epochs: int = 6
    lr: float = 3e-4
    batch_size: int = 64
    bootstrap: bool = True  # train on a resample (with replacement) of the parent's training rows
    threads: int = 1


def perturbed_member(
    parent: Checkpoint,
    pool: ReplayPool,
    seed: int,
    cfg: MemberConfig = MemberConfig(),
    val: GraphTensors | None = None,
) -> SEMCGCNN:
    """A copy of ``parent`` trained ``cfg.epochs`` more epochs on a bootstrap resample of ``pool``,
    with every batch norm kept on the parent's running statistics.

    Args:
        parent: the trained checkpoint (copied, not changed).
        pool: the parent's training rows (:func:`~semcgcnn.model.training.finetune.replay_pool`).
        seed: the member's seed (resample, shuffling, initial torch state).
        cfg: epochs, learning rate, batch size, resampling and threads.
        val: graph tensors of the parent's validation rows: the state of the epoch with the best
            validation score (as training selects: mean task MAE / training std) is kept, as the
            parent itself was selected; without them, the last.

    Returns:
        The member, in eval mode.
    """
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
        order = rng.permutation(len(data))
        loss = train_epoch(
            model,
            opt,
            weighting,
            data,
            order,
            cfg.batch_size,
            parent.normalizer,
            keep_batch_norm_statistics=True,
            skip_single_crystal_batches=False,
        )
        score = (
            val_score(
                evaluate(model, val, np.arange(len(val)), parent.normalizer),
                parent.normalizer,
                model.cfg.tasks,
            )
            if val is not None
            else -epoch
        )
        if score < best[0]:
            best = (score, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch + 1)
        log.info(
            "member seed %d: epoch %d/%d, train loss %.4f, val score %.4f",
            seed,
            epoch + 1,
            cfg.epochs,
            loss,
            score,
        )
    model.load_state_dict(best[1])
    model.eval()
    log.info("member seed %d: kept epoch %d", seed, best[2])
    return model


def save_member(out: Path, model: SEMCGCNN, parent: Checkpoint, seed: int, cfg: MemberConfig) -> Path:
    """A member as a safe checkpoint: the parent's configs, normaliser and card, plus how it was made.

    Args:
        out: the checkpoint's stem.
        model: the member (:func:`perturbed_member`).
        parent: the checkpoint it was trained from.
        seed: its seed.
        cfg: how it was trained.

    Returns:
        The card's path.
    """
    card = parent.card
    keep = (
        "recipe",
        "element_descriptors",
        "training_elements",
        "training_systems",
        "validation_systems",
        "test_systems",
        "never_seen_systems",
    )
    extra = {
        **{k: card[k] for k in keep if k in card},
        "parent_model_id": parent.model_id,
        "ensemble_member": {"seed": seed, **asdict(cfg)},
        "evaluation": {},
    }
    train_config = TrainConfig.from_dict(card["train_config"]) if card.get("train_config") else None
    return save_checkpoint(
        out,
        model,
        parent.graph_config,
        parent.normalizer,
        train_config,
        training_data=card.get("training_data", {}),
        metrics={},
        extra=extra,
    )


def finetune_ensemble(
    card_path: Path,
    extra: Path | Sequence[Path] | ExtraLabels,
    cfg: FinetuneConfig | None = None,
    out: Path | None = None,
) -> Path:
    """Fine-tune every member of an ensemble on new labels and write a new ensemble card with the
    parent's calibration and center.

    Args:
        card_path: the ensemble card.
        extra: labels.parquet path(s), or already-loaded labels.
        cfg: the fine-tuning (member i with seed ``cfg.seed + i``); default :class:`FinetuneConfig`.
        out: the new card's path (members in ``OUT-members/``).

    Returns:
        The new card's path.
    """
    cfg = cfg or FinetuneConfig()
    ens = load_ensemble(card_path)
    graph_config = ens.members[0].graph_config
    labels = extra if isinstance(extra, ExtraLabels) else load_extra_labels(extra, graph_config)
    out = Path(out).with_suffix("")
    folder = out.parent / f"{out.name}-members"
    folder.mkdir(parents=True, exist_ok=True)
    stems = []
    for i, member in enumerate(ens.members):
        res = finetune(
            member, labels, replace(cfg, seed=cfg.seed + i), out=folder / f"member-{i}", progress=False
        )
        stems.append(Path(res.card_path).with_suffix(""))
    description = f"{ens.model_id} with every member fine-tuned on {len(labels)} new labels"
    extra_card = {"parent_model_id": ens.model_id, "center": ens.center, "description": description}
    if ens.reference is not None:  # the parent's σ weights; the reference re-embedded, new labels in it
        first = load_checkpoint(stems[0])
        ref = training_reference(first, ens.reference.k, base=ens.members[0], extra=labels.graphs)
        extra_card["distance"] = distance_section(
            ref,
            folder / REFERENCE_FILE,
            out.parent,
            ens.card["distance"]["sigma"],
            f"{ens.model_id}'s σ; reference: the fine-tuned first member's embeddings of the parent's "
            f"training slabs and the {len(labels)} new labels",
        )
    return save_ensemble(out.with_suffix(".json"), stems, ens.calibration, extra_card)
