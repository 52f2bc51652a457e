"""TPE hyper-parameter search (paper §2.3: hyperopt's Tree-structured Parzen Estimator, 200 trials).

Each trial trains SEM-CGCNN (GradNorm, surface flag) with one point of
:class:`~semcgcnn.model.config.SearchSpace` on a FIXED split of the Mg–X slabs and scores it by
its best validation score (:class:`~semcgcnn.model.config.HyperoptConfig` says which split and why).

Finished trials are kept in ``OUT/trials.json`` (plain JSON, rewritten after every trial; the
project never pickles). A search started again with the same settings rebuilds hyperopt's
``Trials`` from that file, skips the finished trials and lets TPE continue with the full history.
Every suggestion is seeded from ``(seed, trial id)``, so an interrupted and resumed search
proposes exactly the points an uninterrupted one would.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.errors import UserError
from semcgcnn.model.config import GraphConfig, HyperoptConfig, ModelConfig, SearchSpace, TrainConfig
from semcgcnn.model.data import GraphTensors

from .data import TASKS
from .splits import make_split
from .train import TrainingDivergedError, TrainResult, train

if TYPE_CHECKING:
    from hyperopt import Trials

log = logging.getLogger(__name__)

TRIALS_FILE = "trials.json"
RESULT_FILE = "hyperopt.json"
OBJECTIVE = (
    "best validation score over the epochs of one training: mean over tasks of validation MAE / "
    "training-set std (model.train._val_score, the criterion training selects its epoch by)"
)
_PAPER = (ModelConfig(), TrainConfig(), GraphConfig())
_RESUME_IGNORES = ("max_evals", "threads", "device")  # settings a resumed search may change


class SearchMismatchError(UserError):
    """``OUT/trials.json`` belongs to a search with other settings."""


@dataclass
class Trial:
    """One finished trial: hyperopt's raw values (indices for choices), the point they mean, its score."""

    tid: int
    vals: dict  # label -> [value] ([] for an inactive conditional), as hyperopt stores them
    params: dict  # the point: lr, batch_size, ..., weight_decay
    val_loss: float | None  # the objective (None: the training failed)
    status: str  # "ok" or "fail"
    wall_s: float
    best_epoch: int = -1
    val_mae: dict = field(default_factory=dict)  # task -> validation MAE at the best epoch (original units)
    error: str = ""


# ---- the space ----
def space_expression(space: SearchSpace) -> dict:
    """The hyperopt expression of ``space``; weight decay is off (0) or log-uniform."""
    from hyperopt import hp

    lo, hi = space.lr
    wlo, whi = space.weight_decay
    return {
        "lr": hp.loguniform("lr", math.log(lo), math.log(hi)),
        "batch_size": hp.choice("batch_size", list(space.batch_size)),
        "atom_fea_len": hp.choice("atom_fea_len", list(space.atom_fea_len)),
        "h_fea_len": hp.choice("h_fea_len", list(space.h_fea_len)),
        "n_conv": hp.choice("n_conv", list(space.n_conv)),
        "n_hidden": hp.choice("n_hidden", list(space.n_hidden)),
        "surface_depth": hp.choice("surface_depth", list(space.surface_depth)),
        "gradnorm_alpha": hp.uniform("gradnorm_alpha", *space.gradnorm_alpha),
        "weight_decay": hp.choice(
            "weight_decay", [0.0, hp.loguniform("weight_decay_value", math.log(wlo), math.log(whi))]
        ),
    }


def paper_params() -> dict:
    """The paper's configuration as a point of the space (the config defaults)."""
    m, t, g = _PAPER
    return {
        "lr": t.lr,
        "batch_size": t.batch_size,
        "atom_fea_len": m.atom_fea_len,
        "h_fea_len": m.h_fea_len,
        "n_conv": m.n_conv,
        "n_hidden": m.n_hidden,
        "surface_depth": g.surface_depth,
        "gradnorm_alpha": t.gradnorm_alpha,
        "weight_decay": t.weight_decay,
    }


def paper_vals(space: SearchSpace) -> dict:
    """:func:`paper_params` in hyperopt's raw form (choice indices); ValueError if outside ``space``."""
    p = paper_params()
    vals = {
        "lr": [p["lr"]],
        "gradnorm_alpha": [p["gradnorm_alpha"]],
        "weight_decay": [0],
        "weight_decay_value": [],
    }
    for k in ("batch_size", "atom_fea_len", "h_fea_len", "n_conv", "n_hidden", "surface_depth"):
        choices = list(getattr(space, k))
        if p[k] not in choices:
            raise ValueError(f"the paper's {k} = {p[k]} is not among the search space's {choices}")
        vals[k] = [choices.index(p[k])]
    if not (
        space.lr[0] <= p["lr"] <= space.lr[1]
        and space.gradnorm_alpha[0] <= p["gradnorm_alpha"] <= space.gradnorm_alpha[1]
    ):
        raise ValueError("the paper's learning rate or GradNorm α lies outside the search space")
    return vals


def params_of(space: SearchSpace, vals: dict) -> dict:
    """The point hyperopt's raw ``vals`` mean, as plain Python numbers."""
    from hyperopt import space_eval

    point = space_eval(space_expression(space), {k: v[0] for k, v in vals.items() if v})
    return {
        k: (int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else float(v))
        for k, v in point.items()
    }


def configs_of(
    params: dict, cfg: HyperoptConfig, split: str | None = None
) -> tuple[ModelConfig, TrainConfig, float]:
    """(model config, training config, surface depth in Å) of one point, at the search's schedule."""
    model = ModelConfig(
        tasks=TASKS,
        surface_flag=True,
        atom_fea_len=int(params["atom_fea_len"]),
        n_conv=int(params["n_conv"]),
        h_fea_len=int(params["h_fea_len"]),
        n_hidden=int(params["n_hidden"]),
    )
    train_cfg = TrainConfig(
        epochs=cfg.epochs,
        lr_drop_epoch=cfg.lr_drop_epoch,
        batch_size=int(params["batch_size"]),
        lr=float(params["lr"]),
        gradnorm_alpha=float(params["gradnorm_alpha"]),
        weight_decay=float(params["weight_decay"]),
        split=split or cfg.split,
        seed=cfg.seed,
        threads=cfg.threads,
        device=cfg.device,
    )
    return model, train_cfg, float(params["surface_depth"])


# ---- the data: Mg–X slabs, a fixed split, graphs per surface depth ----
class MgData:
    """The Mg–X slabs of a search (every ``row_stride``-th), graphs per surface depth (built once
    each: only the surface flag is recomputed), and the fixed split of ``split``."""

    def __init__(self, row_stride: int = 1):
        from semcgcnn.datasets import TARGETS, labels

        df = labels("mg_binary_slabs")
        self.rows = np.arange(0, len(df), row_stride)
        self.y = df[[TARGETS[t].column for t in TASKS]].to_numpy()[self.rows]
        self.groups = df["chemsys"].to_numpy()[self.rows]
        self._tensors: dict[float, GraphTensors] = {}

    def tensors(self, surface_depth: float) -> GraphTensors:
        from semcgcnn.model.graphs import dataset_graphs_at_depth

        d = float(surface_depth)
        if d not in self._tensors:
            self._tensors[d] = GraphTensors(
                dataset_graphs_at_depth("mg_binary_slabs", d).subset(self.rows), self.y
            )
        return self._tensors[d]

    def split(
        self, kind: str, seed: int, train_fraction: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Table 1's 60/20/20 split (``grouped``: whole chemical systems); with ``train_fraction`` < 1
        a seeded subsample of the training rows (validation and test unchanged)."""
        tr, va, te = make_split(kind, len(self.rows), self.groups, seed)
        if train_fraction < 1.0:
            k = max(2, int(round(train_fraction * len(tr))))
            tr = np.sort(np.random.default_rng(seed).choice(tr, size=k, replace=False))
        return tr, va, te


def train_point(
    data: MgData,
    params: dict,
    cfg: HyperoptConfig,
    split: str | None = None,
    train_fraction: float | None = None,
) -> TrainResult:
    """Train one point of the space on ``data``'s fixed ``split`` (default: the search's) at the
    search's schedule."""
    model, train_cfg, depth = configs_of(params, cfg, split)
    idx = data.split(
        train_cfg.split, cfg.seed, cfg.train_fraction if train_fraction is None else train_fraction
    )
    return train(data.tensors(depth), idx, model, train_cfg, progress=False)


def _evaluate(data: MgData, space: SearchSpace, tid: int, vals: dict, cfg: HyperoptConfig) -> Trial:
    params = params_of(space, vals)
    t0 = time.perf_counter()
    try:
        res = train_point(data, params, cfg)
    except TrainingDivergedError as e:  # TPE sees a failed trial and steers away from it
        log.warning("trial %d failed: %s", tid, e)
        return Trial(tid, vals, params, None, "fail", time.perf_counter() - t0, error=str(e))
    scores = np.array([h["val_score"] for h in res.history], dtype=float)
    best = int(np.nanargmin(scores))
    return Trial(
        tid,
        vals,
        params,
        float(scores[best]),
        "ok",
        time.perf_counter() - t0,
        best_epoch=best,
        val_mae={t: float(res.history[best][f"val_mae_{t}"]) for t in TASKS},
    )


# ---- hyperopt's Trials from the JSON history, one suggestion at a time ----
def trials_of(history: list[Trial]) -> Trials:
    """hyperopt ``Trials`` holding ``history`` as finished jobs (what TPE conditions on)."""
    from hyperopt import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK, Trials

    trials = Trials()
    results = [
        {"status": STATUS_OK, "loss": t.val_loss} if t.status == "ok" else {"status": STATUS_FAIL}
        for t in history
    ]
    miscs = [
        {
            "tid": t.tid,
            "cmd": ("domain_attachment", "FMinIter_Domain"),
            "workdir": None,
            "vals": {k: list(v) for k, v in t.vals.items()},
            "idxs": {k: [t.tid] if v else [] for k, v in t.vals.items()},
        }
        for t in history
    ]
    docs = trials.new_trial_docs([t.tid for t in history], [None] * len(history), results, miscs)
    for d in docs:
        d["state"] = JOB_STATE_DONE
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def suggestion_seed(seed: int, tid: int) -> int:
    """TPE's random state for trial ``tid``: fixed by the search seed and the trial id alone."""
    return int(np.random.SeedSequence([seed, tid]).generate_state(1)[0])


def suggest(space: SearchSpace, history: list[Trial], tid: int, cfg: HyperoptConfig) -> dict:
    """Raw values of trial ``tid``: TPE on ``history`` (random for the first ``n_startup``)."""
    from hyperopt import tpe
    from hyperopt.base import Domain

    domain = Domain(lambda _: 0.0, space_expression(space))
    algo = partial(tpe.suggest, n_startup_jobs=cfg.n_startup, verbose=False)
    (doc,) = algo([tid], domain, trials_of(history), suggestion_seed(cfg.seed, tid))
    return {k: [_plain(x) for x in v] for k, v in doc["misc"]["vals"].items()}


def _plain(x: float | np.number) -> int | float:
    return int(x) if isinstance(x, (int, np.integer)) else float(x)


# ---- persistence ----
def _identity(cfg: HyperoptConfig, space: SearchSpace) -> dict:
    d = cfg.to_dict()
    for k in _RESUME_IGNORES:
        d.pop(k)
    return {"config": d, "space": space.to_dict()}


def load_trials(out: Path, cfg: HyperoptConfig, space: SearchSpace) -> list[Trial]:
    """The finished trials in ``out/trials.json`` ([] if none); SearchMismatchError if that file
    was written by a search with other settings (only the budget, threads and device may change)."""
    path = Path(out) / TRIALS_FILE
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    if {k: doc.get(k) for k in ("config", "space")} != _identity(cfg, space):
        raise SearchMismatchError(
            f"{path} holds a search with other settings; give a new --out to start another"
        )
    return [Trial(**t) for t in doc["trials"]]


def _save_trials(out: Path, cfg: HyperoptConfig, space: SearchSpace, history: list[Trial]) -> None:
    from semcgcnn.paths import atomic_write_bytes

    doc = {**_identity(cfg, space), "objective": OBJECTIVE, "trials": [asdict(t) for t in history]}
    atomic_write_bytes(Path(out) / TRIALS_FILE, lambda tmp: tmp.write_text(json.dumps(doc, indent=1)))


def summary(history: list[Trial], cfg: HyperoptConfig, space: SearchSpace) -> dict:
    """The search's result: every trial as ``{params, val_loss}``, the best one, the paper point's."""
    ok = [t for t in history if t.status == "ok"]
    best = min(ok, key=lambda t: t.val_loss) if ok else None
    paper = next((t for t in history if t.params == paper_params()), None)

    def pick(t: Trial | None) -> dict | None:
        return (
            None
            if t is None
            else {
                "tid": t.tid,
                "params": t.params,
                "val_loss": t.val_loss,
                "val_mae": t.val_mae,
                "best_epoch": t.best_epoch,
            }
        )

    return {
        "objective": OBJECTIVE,
        "config": cfg.to_dict(),
        "space": space.to_dict(),
        "trials": [
            {
                "tid": t.tid,
                "params": t.params,
                "val_loss": t.val_loss,
                "status": t.status,
                "wall_s": round(t.wall_s, 1),
            }
            for t in history
        ],
        "best": pick(best),
        "paper": pick(paper),
    }


def run_search(
    out: Path,
    cfg: HyperoptConfig,
    space: SearchSpace | None = None,
    progress: bool = True,
    data: MgData | None = None,
) -> dict:
    """Run (or resume) a TPE search until ``cfg.max_evals`` trials are finished; write
    ``out/trials.json`` after every trial and ``out/hyperopt.json`` (:func:`summary`) at the end."""
    from semcgcnn.paths import atomic_write_bytes
    from semcgcnn.progress import Bars

    space = space or SearchSpace()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    history = load_trials(out, cfg, space)
    if history:
        log.info("resuming the search in %s: %d trial(s) finished", out, len(history))
    data = data or MgData(cfg.row_stride)
    with Bars(progress) as bars:
        advance = bars.stage("trial", cfg.max_evals, completed=min(len(history), cfg.max_evals))
        while len(history) < cfg.max_evals:
            tid = len(history)
            vals = (
                paper_vals(space) if tid == 0 and cfg.start_from_paper else suggest(space, history, tid, cfg)
            )
            trial = _evaluate(data, space, tid, vals, cfg)
            history.append(trial)
            _save_trials(out, cfg, space, history)
            log.info("trial %d: val loss %s in %.0f s, %s", tid, trial.val_loss, trial.wall_s, trial.params)
            best_loss = min((t.val_loss for t in history if t.val_loss is not None), default=math.nan)
            advance(1, info=f"best {best_loss:.4f}")
    result = summary(history[: cfg.max_evals] if len(history) > cfg.max_evals else history, cfg, space)
    atomic_write_bytes(out / RESULT_FILE, lambda tmp: tmp.write_text(json.dumps(result, indent=1)))
    return result
