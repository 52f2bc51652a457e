"""Transfer learning (paper §3.2, Fig. 5): a pretrained checkpoint as the starting point of a
model for new data, trained by the one training loop (:func:`semcgcnn.model.training.train.train`).

:func:`transfer_model` builds the new model: the pretrained model's architecture restricted to
the requested tasks, its embedding and convolutions copied, and each task's head copied from the
pretrained head *of the same task name* (a surface-energy-only model takes the surface-energy
head). With ``freeze`` the embedding and convolutions (batch-norm statistics included) stay
fixed and only the heads train. :func:`train_transfer` trains it on new data; as for any
training run, the target normaliser is fitted on the new training rows.

Unlike :mod:`semcgcnn.model.training.finetune` (a few new labels, no validation set, a fixed schedule),
this is ordinary training on a labelled dataset with a validation split and best-validation
selection, only from pretrained weights instead of random ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.model.checkpoint import Checkpoint
from semcgcnn.model.config import TrainConfig
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.network import SEMCGCNN, freeze_encoder

from .data import TASKS, slab_graphs
from .train import TrainResult, train

_TARGET_SCALE = ("target_mean", "target_std")  # the surface readout's per-task scale: the new normaliser's


def transfer_model(parent: Checkpoint, tasks: Sequence[str] | None = None, freeze: bool = False) -> SEMCGCNN:
    """A new model with ``parent``'s architecture for ``tasks`` (default: the parent's), its
    encoder (embedding, convolutions with their batch-norm statistics) and, per task, the
    parent's head of that name; ``freeze``: the encoder's parameters do not train."""
    tasks = tuple(tasks or parent.tasks)
    unknown = [t for t in tasks if t not in parent.tasks]
    if unknown or len(set(tasks)) != len(tasks):
        raise ValueError(
            f"tasks {list(tasks)}: each must be one of the pretrained model's {list(parent.tasks)}, once"
        )
    model = SEMCGCNN(replace(parent.model.cfg, tasks=tasks))
    state = {
        k: v
        for k, v in parent.model.state_dict().items()
        if k not in _TARGET_SCALE and (not k.startswith("heads.") or k.split(".")[1] in tasks)
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    if set(missing) - set(_TARGET_SCALE) or unexpected:
        raise ValueError(
            f"the pretrained weights do not fit the transfer model (missing {missing}, extra {unexpected})"
        )
    if freeze:
        freeze_encoder(model)
    return model


def transfer_tensors(
    parent: Checkpoint, datasets: Sequence[str], tasks: Sequence[str] | None = None
) -> tuple[GraphTensors, pd.DataFrame]:
    """Graph tensors of the shipped ``datasets`` for a model of ``parent``'s inputs (its graph
    config and element descriptors), targets in ``tasks`` order, and the row table."""
    tasks = tuple(tasks or parent.tasks)
    gs, y, frame = slab_graphs(tuple(datasets), parent.graph_config)
    cols = [TASKS.index(t) for t in tasks]
    return GraphTensors(gs, y[:, cols], descriptors=parent.descriptor_table), frame


def train_transfer(
    parent: Checkpoint,
    data: GraphTensors,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    train_cfg: TrainConfig,
    tasks: Sequence[str] | None = None,
    freeze: bool = False,
    scratch: bool = False,
    run_dir: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train on ``data`` (:func:`transfer_tensors`) from ``parent``'s weights (:func:`transfer_model`),
    or with ``scratch`` from a random initialisation of the same architecture (the baseline).
    ``run_dir``: resumable, as :func:`~semcgcnn.model.training.train.train`. ``split``: the (train,
    validation, test) rows of ``data``; ``train_cfg``: the training settings; ``tasks``: the new
    model's tasks (default: ``parent``'s); ``freeze``: keep the embedding and convolutions fixed;
    ``progress``: draw a progress bar."""
    tasks = tuple(tasks or parent.tasks)
    if data.config.key() != parent.graph_config.key():
        raise ValueError("the data were featurized with another graph config than the pretrained model's")
    if data.y.shape[1] != len(tasks):
        raise ValueError(f"the data hold {data.y.shape[1]} target column(s) for {len(tasks)} task(s)")
    if scratch and freeze:
        raise ValueError("a model trained from scratch has no pretrained layers to freeze")
    model = transfer_model(parent, tasks, freeze)
    return train(
        data, split, model.cfg, train_cfg, run_dir=run_dir, progress=progress, init=None if scratch else model
    )
