"""The one training step and epoch loop: training from scratch, transfer learning, fine-tuning and
ensemble members all run :func:`train_epoch`.

Callers differ in two explicit settings: whether every batch norm keeps the running statistics it
starts with (fine-tuning and ensemble members: a few rows are no estimate of the whole data's
feature statistics) and whether a batch of a single crystal is skipped (training from scratch and
transfer learning, whose batch norms learn batch statistics).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from semcgcnn.model.data import GraphTensors
from semcgcnn.model.inference import Normalizer
from semcgcnn.model.network import SEMCGCNN

from .gradnorm import TaskWeights


def masked_task_losses(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MSE per task over the rows where that task is labelled (0 where a batch has none).

    Args:
        pred: (n, tasks) predictions, normalised.
        y: (n, tasks) targets, normalised, NaN where missing.
    """
    ok = torch.isfinite(y)
    diff = torch.where(ok, pred - torch.nan_to_num(y), torch.zeros_like(pred))
    return (diff**2).sum(dim=0) / ok.sum(dim=0).clamp_min(1)


def set_train_mode(model: SEMCGCNN, keep_batch_norm_statistics: bool) -> None:
    """Training mode, except batch norms that keep their running statistics (eval mode).

    Args:
        model: the model, changed in place.
        keep_batch_norm_statistics: every batch norm keeps its running statistics; otherwise only
            those whose affine parameters are frozen do, so a frozen layer computes the same
            function throughout.
    """
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and (
            keep_batch_norm_statistics or (m.weight is not None and not m.weight.requires_grad)
        ):
            m.eval()


def train_epoch(
    model: SEMCGCNN,
    opt: torch.optim.Optimizer,
    weighting: TaskWeights,
    data: GraphTensors,
    order: np.ndarray,
    batch_size: int,
    normalizer: Normalizer,
    *,
    keep_batch_norm_statistics: bool,
    skip_single_crystal_batches: bool,
) -> float:
    """One pass over the rows ``order`` of ``data`` in batches of ``batch_size``, one optimiser
    step per batch; returns the mean summed task loss per crystal trained on.

    Args:
        model: the model, trained in place.
        opt: its optimiser.
        weighting: the task weighting (GradNorm or equal weights) that backpropagates the task losses.
        data: graph tensors with targets (on the training device).
        order: the rows of ``data`` in the order they are batched (the caller shuffles).
        batch_size: crystals per batch.
        normalizer: the target normaliser the losses are computed in.
        keep_batch_norm_statistics: see :func:`set_train_mode`.
        skip_single_crystal_batches: a batch of one crystal takes no step.
    """
    set_train_mode(model, keep_batch_norm_statistics)
    total, n = 0.0, 0
    for b in data.batches(order, batch_size):
        if skip_single_crystal_batches and b.n_graphs < 2:
            continue
        pred = model(*b.inputs())
        losses = masked_task_losses(pred, normalizer.norm(b.y))
        opt.zero_grad(set_to_none=True)
        weighting.backward(losses, model.shared_layer)
        opt.step()
        total = total + losses.detach().sum() * b.n_graphs  # summed on the device: no sync per step
        n += b.n_graphs
    return float(total) / max(n, 1)


def epoch_progress(enabled: bool, epochs: int, start: int) -> Callable[[int | None, float, float], None]:
    """A progress bar over epochs: returns ``update(epoch, train_loss, val_score)``, which advances
    it one epoch; ``update(None, ...)`` closes it.

    Args:
        enabled: draw the bar (otherwise the updates draw nothing).
        epochs: epochs in the schedule.
        start: epochs already done (a resumed run).
    """
    from semcgcnn.progress import Bars

    bars = Bars(enabled).__enter__()
    advance = bars.stage("epoch", epochs, completed=start)

    def update(epoch: int | None, train_loss: float, val_score: float) -> None:
        if epoch is None:
            bars.__exit__(None, None, None)
            return
        advance(1, info=f"train loss {train_loss:.4f}  val {val_score:.4f}")

    return update
