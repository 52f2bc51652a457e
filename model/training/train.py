"""Training: masked multi-task MSE, GradNorm or equal weights, best-validation selection, resume."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from semcgcnn.model.config import ModelConfig, TrainConfig
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.inference import Normalizer, predict
from semcgcnn.model.metrics import regression_metrics
from semcgcnn.model.network import SEMCGCNN

from .gradnorm import GradNorm, TaskWeights
from .loop import epoch_progress, train_epoch

log = logging.getLogger(__name__)


class TrainingDivergedError(RuntimeError):
    """No epoch reached a finite validation score (the training diverged), so there is no model to keep."""


@dataclass
class TrainResult:
    model: SEMCGCNN
    normalizer: Normalizer
    metrics: dict  # split -> task -> {n, mae, rmse, r2}, original units
    history: list = field(default_factory=list)
    best_epoch: int = -1
    wall_s: float = 0.0
    epoch_s: float = 0.0
    task_weights: list = field(default_factory=list)


def evaluate(
    model: SEMCGCNN, data: GraphTensors, idx: np.ndarray | Sequence[int], normalizer: Normalizer
) -> dict:
    """Regression metrics per task (original units) of ``model`` on some rows.

    Args:
        model: the model to evaluate.
        data: the graphs and targets.
        idx: the rows of ``data`` to evaluate on.
        normalizer: the training rows' normaliser, which maps predictions back to original units.
    """
    pred = predict(model, data, idx, normalizer)
    y = data.y[torch.from_numpy(np.asarray(idx))].double().numpy()
    return {t: regression_metrics(y[:, k], pred[:, k]) for k, t in enumerate(model.cfg.tasks)}


def val_score(metrics: dict, normalizer: Normalizer, tasks: Sequence[str]) -> float:
    """Selection criterion: mean over tasks of validation MAE / training std.

    Args:
        metrics: task -> regression metrics on the validation rows (:func:`evaluate`).
        normalizer: the training rows' normaliser (its std per task).
        tasks: the model's tasks, in the normaliser's order.
    """
    return float(np.mean([metrics[t]["mae"] / normalizer.std[k] for k, t in enumerate(tasks)]))


@dataclass
class _Session:
    """What one training run updates: the model, its optimiser and task weights, the shuffling
    RNG, the normaliser and the data (on the training device)."""

    model: SEMCGCNN
    opt: torch.optim.Optimizer
    weighting: TaskWeights
    rng: np.random.Generator
    normalizer: Normalizer
    data: GraphTensors


def _start(
    data: GraphTensors,
    train_idx: np.ndarray,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    init: SEMCGCNN | None = None,
) -> _Session:
    """Threads, seeds, normaliser (training rows only), model (a copy of ``init`` if given, else a
    random initialisation), optimiser over the trainable parameters and task weighting."""
    from semcgcnn.runtime import keep_freed_memory

    if train_cfg.device == "cpu":
        keep_freed_memory()
    torch.set_num_threads(train_cfg.threads or os.cpu_count() or 1)
    torch.manual_seed(train_cfg.seed)
    rng = np.random.default_rng(train_cfg.seed)
    normalizer = Normalizer.fit(data.y[torch.from_numpy(train_idx)].double().numpy())
    device = torch.device(train_cfg.device)
    data = data.to(device)
    if init is not None and init.cfg != model_cfg:
        raise ValueError(f"the initial model's config {init.cfg} is not the model config {model_cfg}")
    model = copy.deepcopy(init) if init is not None else SEMCGCNN(model_cfg)
    model = model.set_target_scale(normalizer.mean, normalizer.std)
    model = model.to(device)  # initialised on the CPU: same weights on any device
    opt = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad],
        lr=train_cfg.lr,
        weight_decay=train_cfg.weight_decay,
    )
    n_tasks = len(model_cfg.tasks)
    if train_cfg.weighting == "gradnorm" and n_tasks > 1 and not model.shared_layer.requires_grad:
        raise ValueError(
            "GradNorm measures gradients at the last convolution, which is frozen: use equal weighting"
        )
    weighting = (
        GradNorm(n_tasks, train_cfg.gradnorm_alpha, train_cfg.gradnorm_lr, device=device)
        if train_cfg.weighting == "gradnorm"
        else TaskWeights(n_tasks, device=device)
    )
    return _Session(model, opt, weighting, rng, normalizer, data)


def _initial_state(run: _Session, ckpt: Path | None) -> dict:
    """A fresh run's state, or the state saved after the last finished epoch of ``ckpt``."""
    if ckpt and ckpt.exists():
        state = _resume(ckpt, run.model, run.opt, run.weighting, run.rng)
        log.info("resuming %s from epoch %d", ckpt.parent, state["epoch"])
        return state
    return {
        "epoch": 0,
        "best_score": float("inf"),
        "best_epoch": -1,
        "best_model": None,
        "history": [],
        "train_s": 0.0,
    }


def _run_epoch(
    run: _Session, epoch: int, train_idx: np.ndarray, val_idx: np.ndarray, train_cfg: TrainConfig, state: dict
) -> tuple[float, float, float]:
    """One epoch at its learning rate, validation, best-model bookkeeping; returns
    ``(train_loss, val_score, epoch_s)``."""
    tasks = run.model.cfg.tasks
    lr = train_cfg.lr * (train_cfg.lr_drop_factor if epoch >= train_cfg.lr_drop_epoch else 1.0)
    for g in run.opt.param_groups:
        g["lr"] = lr
    t0 = time.perf_counter()
    train_loss = train_epoch(
        run.model,
        run.opt,
        run.weighting,
        run.data,
        run.rng.permutation(train_idx),
        train_cfg.batch_size,
        run.normalizer,
        keep_batch_norm_statistics=False,
        skip_single_crystal_batches=True,
    )
    epoch_s = time.perf_counter() - t0
    val = evaluate(run.model, run.data, val_idx, run.normalizer)
    score = val_score(val, run.normalizer, tasks)
    if score < state["best_score"]:
        state.update(best_score=score, best_epoch=epoch, best_model=copy.deepcopy(run.model.state_dict()))
    state["train_s"] += epoch_s
    state["history"].append(
        {
            "epoch": epoch,
            "lr": lr,
            "train_loss": train_loss,
            "val_score": score,
            "epoch_s": epoch_s,
            "weights": [float(w) for w in run.weighting.weights.detach()],
            **{f"val_mae_{t}": val[t]["mae"] for t in tasks},
        }
    )
    state["epoch"] = epoch + 1
    return train_loss, score, epoch_s


def train(
    data: GraphTensors,
    split: tuple[np.ndarray, np.ndarray, np.ndarray],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    run_dir: Path | None = None,
    progress: bool = True,
    init: SEMCGCNN | None = None,
) -> TrainResult:
    """Train one model; with ``run_dir``, an interrupted run resumes from its last epoch.
    ``init``: the starting model (config ``model_cfg``; copied, not changed), e.g. a pretrained
    one for transfer learning (:mod:`semcgcnn.model.training.transfer`); its parameters with
    ``requires_grad`` off stay fixed, and so do the running statistics of its frozen batch norms."""
    train_idx, val_idx, test_idx = (np.asarray(s, dtype=np.int64) for s in split)
    run = _start(data, train_idx, model_cfg, train_cfg, init)
    ckpt = Path(run_dir) / "last_epoch.pt" if run_dir else None
    state = _initial_state(run, ckpt)
    bar = epoch_progress(progress, train_cfg.epochs, state["epoch"])
    t_start = time.perf_counter()
    for epoch in range(state["epoch"], train_cfg.epochs):
        train_loss, score, epoch_s = _run_epoch(run, epoch, train_idx, val_idx, train_cfg, state)
        if ckpt:
            _save_resume(ckpt, run.model, run.opt, run.weighting, run.rng, state)
        bar(epoch, train_loss, score)
        if (
            epoch == 0 or (epoch + 1) % 25 == 0
        ):  # a heartbeat where no progress bar is drawn (logs, batch jobs)
            log.info(
                "epoch %d/%d: %.2f s, train loss %.4f, val score %.4f",
                epoch + 1,
                train_cfg.epochs,
                epoch_s,
                train_loss,
                score,
            )
    bar(None, 0, 0)
    if state["best_model"] is None:
        raise TrainingDivergedError(f"no finite validation score in {train_cfg.epochs} epochs")
    run.model.load_state_dict(state["best_model"])
    metrics = {
        name: evaluate(run.model, run.data, idx, run.normalizer)
        for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx))
    }
    hist = state["history"]
    return TrainResult(
        model=run.model.cpu(),
        normalizer=run.normalizer,
        metrics=metrics,
        history=hist,
        best_epoch=state["best_epoch"],
        wall_s=time.perf_counter() - t_start,
        epoch_s=float(np.median([h["epoch_s"] for h in hist])) if hist else 0.0,
        task_weights=[float(w) for w in run.weighting.weights.detach()],
    )


def _save_resume(
    path: Path,
    model: SEMCGCNN,
    opt: torch.optim.Optimizer,
    weighting: TaskWeights,
    rng: np.random.Generator,
    state: dict,
) -> None:
    from semcgcnn.paths import atomic_write_bytes

    blob = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "weighting": weighting.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": _rng_to_tensor(rng),
        "epoch": state["epoch"],
        "best_score": state["best_score"],
        "best_epoch": state["best_epoch"],
        "best_model": state["best_model"] or {},
        "history": state["history"],
        "train_s": state["train_s"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda tmp: torch.save(blob, tmp))


def _resume(
    path: Path, model: SEMCGCNN, opt: torch.optim.Optimizer, weighting: TaskWeights, rng: np.random.Generator
) -> dict:
    blob = torch.load(
        path, weights_only=True, map_location="cpu"
    )  # load_state_dict copies to the model's device
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["optimizer"])
    weighting.load_state_dict(blob["weighting"])
    torch.set_rng_state(blob["torch_rng"])
    _tensor_to_rng(blob["numpy_rng"], rng)
    return {k: blob[k] for k in ("epoch", "best_score", "best_epoch", "history", "train_s")} | {
        "best_model": blob["best_model"] or None
    }


def _rng_to_tensor(rng: np.random.Generator) -> dict:
    s = rng.bit_generator.state
    return {
        "state": str(s["state"]["state"]),
        "inc": str(s["state"]["inc"]),
        "has_uint32": s["has_uint32"],
        "uinteger": s["uinteger"],
    }


def _tensor_to_rng(d: dict, rng: np.random.Generator) -> None:
    s = rng.bit_generator.state
    s["state"] = {"state": int(d["state"]), "inc": int(d["inc"])}
    s["has_uint32"], s["uinteger"] = d["has_uint32"], d["uinteger"]
    rng.bit_generator.state = s
