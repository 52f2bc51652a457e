"""Fine-tuning a trained checkpoint on new labels (``semcgcnn finetune``).

:func:`finetune` loads a safe checkpoint (weights only, :func:`~semcgcnn.model.checkpoint.load_checkpoint`),
keeps its graph config, model config, normaliser, target scale and element descriptors, and trains
it for a few epochs on labels from ``semcgcnn label`` (:mod:`semcgcnn.model.training.extra_labels`),
optionally mixed with a fresh random *replay* sample of the checkpoint's own training data each
epoch so it does not forget what it knew. The result is a new safe checkpoint whose card names
the parent model and the labels.

Choices (see ``reports/finetune.md`` for the measurement behind the defaults):

* the batch norms keep the parent's running statistics (eval mode): a handful of slabs from one
  or two systems are no estimate of the whole data's feature statistics, and updating them would
  move every prediction, not just those of the new systems;
* equal task weights (GradNorm's balance is not meaningful on a few dozen rows);
* no model selection: a fixed number of epochs at a constant learning rate, the last state kept
  (there is no validation set among a handful of labels).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from semcgcnn.model.checkpoint import SHIPPED_MODEL, Checkpoint, load_checkpoint, save_checkpoint
from semcgcnn.model.config import FinetuneConfig, TrainConfig
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.graphs import GraphSet
from semcgcnn.model.inference import Normalizer
from semcgcnn.model.network import SEMCGCNN

from .extra_labels import ExtraLabels, load_extra_labels
from .gradnorm import TaskWeights
from .loop import epoch_progress, train_epoch

log = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    model: SEMCGCNN
    normalizer: Normalizer
    parent_model_id: str
    card_path: Path | None
    n_labels: int
    n_replay_pool: int
    history: list = field(default_factory=list)
    wall_s: float = 0.0


@dataclass
class ReplayPool:
    """A checkpoint's own training rows: graphs, targets, row table."""

    graphs: GraphSet
    y: np.ndarray
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)


def replay_pool(checkpoint: Checkpoint) -> ReplayPool:
    """The checkpoint's own training rows: its card's datasets, restricted to its
    ``training_systems`` when the card lists them."""
    from .data import slab_graphs

    card = checkpoint.card
    datasets = tuple(card.get("training_data", {}).get("datasets") or ())
    if not datasets:
        raise ValueError(f"{checkpoint.model_id}: the card names no training datasets to replay")
    gs, y, frame = slab_graphs(datasets, checkpoint.graph_config)
    systems = card.get("training_systems")
    rows = np.flatnonzero(frame["chemsys"].isin(systems).to_numpy()) if systems else np.arange(len(frame))
    return ReplayPool(gs.subset(rows), y[rows], frame.iloc[rows].reset_index(drop=True))


def finetune(
    checkpoint: Path | Checkpoint = SHIPPED_MODEL,
    extra: Path | Sequence[Path] | ExtraLabels = (),
    cfg: FinetuneConfig | None = None,
    out: Path | None = None,
    progress: bool = True,
    replay: ReplayPool | None = None,
) -> FinetuneResult:
    """Fine-tune ``checkpoint`` (a stem/path, or a loaded :class:`Checkpoint`, which is copied, not
    changed) on ``extra`` labels (labels.parquet path(s), or already-loaded
    :class:`~semcgcnn.model.training.extra_labels.ExtraLabels`) and, with ``out``, save the result as a
    safe checkpoint. ``replay``: the parent's training pool if already built (:func:`replay_pool`;
    built here when ``cfg.replay_fraction`` > 0 and not given). Deterministic for a given seed."""
    cfg = cfg or FinetuneConfig()
    parent = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(Path(checkpoint))
    labels = extra if isinstance(extra, ExtraLabels) else load_extra_labels(extra, parent.graph_config)
    if labels.graphs.config.key() != parent.graph_config.key():
        raise ValueError("the labels were featurized with another graph config than the checkpoint's")
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    model = SEMCGCNN(parent.model.cfg)
    model.load_state_dict(parent.model.state_dict())  # a copy: the parent stays as loaded
    normalizer = parent.normalizer
    table = parent.descriptor_table
    new = labels.tensors(table)
    n_replay = cfg.n_replay(len(new))
    if n_replay and replay is None:
        replay = replay_pool(parent)
    pool = replay if n_replay else None
    n_pool = len(pool) if pool is not None else 0
    if n_replay and n_pool == 0:
        raise ValueError(f"{parent.model_id}: no training rows to replay")

    params = _trainable(model, cfg.freeze_convolutions)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    weighting = TaskWeights(len(model.cfg.tasks))
    history = []
    bar = epoch_progress(progress, cfg.epochs, 0)
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        te = time.perf_counter()
        data = (
            new
            if not n_replay
            else _with_replay(labels, pool, rng.choice(n_pool, min(n_replay, n_pool), replace=False), table)
        )
        loss = train_epoch(
            model,
            opt,
            weighting,
            data,
            rng.permutation(len(data)),
            cfg.batch_size,
            normalizer,
            keep_batch_norm_statistics=True,
            skip_single_crystal_batches=False,
        )
        history.append({"epoch": epoch, "train_loss": loss, "epoch_s": time.perf_counter() - te})
        bar(epoch, loss, float("nan"))
    bar(None, 0, 0)
    wall = time.perf_counter() - t0
    model.eval()
    log.info(
        "fine-tuned %s on %d labels (+%d replay rows per epoch) for %d epochs in %.1f s",
        parent.model_id,
        len(new),
        n_replay,
        cfg.epochs,
        wall,
    )
    card_path = _save(out, model, parent, labels, cfg, n_replay, n_pool) if out else None
    return FinetuneResult(model, normalizer, parent.model_id, card_path, len(new), n_pool, history, wall)


def _trainable(model: SEMCGCNN, freeze_convolutions: bool) -> list[torch.nn.Parameter]:
    from semcgcnn.model.network import freeze_encoder

    if freeze_convolutions:
        freeze_encoder(model)
    return [p for p in model.parameters() if p.requires_grad]


def _with_replay(
    labels: ExtraLabels, pool: ReplayPool, rows: np.ndarray, table: np.ndarray | None
) -> GraphTensors:
    """Training tensors of the new labels followed by the replay rows ``rows`` of ``pool``."""
    from dataclasses import replace

    rows = np.sort(rows)
    replayed = replace(pool.graphs.subset(rows), config=labels.graphs.config)  # same graph key, checked
    return GraphTensors(
        GraphSet.concat([labels.graphs, replayed]),
        np.concatenate([labels.y, pool.y[rows]]),
        descriptors=table,
    )


def _save(
    out: Path,
    model: SEMCGCNN,
    parent: Checkpoint,
    labels: ExtraLabels,
    cfg: FinetuneConfig,
    n_replay: int,
    n_pool: int,
) -> Path:
    """The fine-tuned checkpoint: the parent's configs and normaliser, a card naming the parent and
    the labels."""
    from semcgcnn.model.atom_features import ELEMENT_SYMBOLS

    card = parent.card
    z = np.unique(labels.graphs.atomic_numbers)
    inherited = {k: card[k] for k in ("recipe", "element_descriptors") if k in card}
    systems = sorted(set(card.get("training_systems") or []) | set(labels.frame["chemsys"]))
    elements = sorted(set(card.get("training_elements") or []) | {ELEMENT_SYMBOLS[int(v)] for v in z})
    train_config = TrainConfig.from_dict(card["train_config"]) if card.get("train_config") else None
    extra = {
        **inherited,
        "parent_model_id": parent.model_id,
        "finetune": {
            **cfg.to_dict(),
            "n_labels": len(labels),
            "n_replay_per_epoch": n_replay,
            "replay_pool_rows": n_pool,
            "labels": labels.card(),
            "label_systems": sorted(set(labels.frame["chemsys"])),
        },
        "training_elements": elements,
        "training_systems": systems if card.get("training_systems") else None,
        "evaluation": {},  # the parent's evaluation is not this model's
    }
    return save_checkpoint(
        out,
        model,
        parent.graph_config,
        parent.normalizer,
        train_config,
        training_data={**card.get("training_data", {}), "finetuned_on": labels.card()},
        metrics={},
        extra=extra,
    )
