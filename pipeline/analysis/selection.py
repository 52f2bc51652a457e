"""Which slabs to label next (``semcgcnn select``): picks spread over compounds and facets, and
inside a compound spread over what the model has not seen.

The score of a slab is its calibrated 1σ on each task divided by that task's median 1σ over
the screen, summed (each task counts the same whatever its unit). Picks go round by round: in
each round every compound, in order of its best remaining score, gives at most one slab of a
Miller index not yet picked for it; rounds repeat until the budget is spent. So a budget of N
labels N compounds before it labels a second facet of any of them.

Which slab a compound gives (``strategy``):

* ``kcenter`` (the default, :data:`SHIPPED_STRATEGY`): farthest-first in the model's own surface
  embedding, the training slabs counting as already labelled: the slab farthest from the training
  data and from the compound's slabs picked so far. Measured on the grouped split's held-out
  systems with the residual correction (``studies/selection.py``, ``reports/active_learning.md``),
  such diverse picks beat random and most-uncertain picks on average over budgets 1–20;
* ``max_sigma``: the most uncertain slab (the score);
* ``random``: a uniform draw (seeded).

With ``costs`` (the estimated cost of labelling each slab's facet,
:mod:`~semcgcnn.pipeline.analysis.label_cost`), slabs above ``max_cost`` are left out before any
pick, and among a compound's candidates worth at least :data:`EQUAL_VALUE` of the best one (its
distance for ``kcenter``, its score for ``max_sigma``) the cheapest is picked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from semcgcnn.errors import UserError

if TYPE_CHECKING:
    from semcgcnn.model.predict import Predictor

SCORE_COLUMNS = ("surface_energy_eV_per_A2_std", "work_function_eV_std")
BUDGET_RULE = "--budget must be ≥ 1"
STRATEGIES = ("kcenter", "max_sigma", "random")
SHIPPED_STRATEGY = "kcenter"
EQUAL_VALUE = 0.95
"""Candidates worth this fraction of the best one count as equal: the cheapest of them is picked."""


class SelectionError(UserError):
    """A selection the user must fix (one line)."""


@dataclass(frozen=True)
class Pick:
    slab_id: str
    compound_id: str
    miller_index: str
    round: int


def uncertainty_score(predictions: pd.DataFrame) -> pd.Series:
    """Σ over tasks of σ / median σ (NaN σ counts 0); a table without spread is refused."""
    stds = predictions[list(SCORE_COLUMNS)].astype(float)
    if stds.isna().all().all():
        raise SelectionError(
            "the screen's predictions carry no uncertainty (a single model screened them): "
            "screen again with the default ensemble model"
        )
    med = stds.median()
    return sum((stds[c] / med[c]).fillna(0.0) for c in SCORE_COLUMNS if math.isfinite(med[c]) and med[c] > 0)


def selectable(predictions: pd.DataFrame) -> pd.DataFrame:
    """The slabs of a screen's ``predictions`` table that can be picked: symmetric, with a finite γ."""
    ok = predictions["symmetric_slab"] & np.isfinite(predictions["surface_energy_eV_per_A2"])
    return predictions[ok].reset_index(drop=True)


def check_strategy(strategy: str) -> None:
    """:class:`SelectionError` unless ``strategy`` is one of :data:`STRATEGIES`."""
    if strategy not in STRATEGIES:
        raise SelectionError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")


def select_slabs(
    predictions: pd.DataFrame,
    budget: int,
    strategy: str = SHIPPED_STRATEGY,
    embeddings: dict[str, np.ndarray] | None = None,
    seed: int = 0,
    costs: pd.Series | None = None,
    max_cost: float | None = None,
) -> pd.DataFrame:
    """The ``budget`` picks among the :func:`selectable` slabs of a screen's ``predictions`` table
    (their rows with ``score`` and ``round``), in pick order.

    Args:
        predictions: the ``predictions`` table of a finished screen.
        budget: how many slabs to pick (≥ 1).
        strategy: one of :data:`STRATEGIES` (see the module's text).
        embeddings: ``kcenter`` only: per slab_id its relative embedding
            (:meth:`~semcgcnn.model.predict.Predictor.embeddings`, in the units of the table's
            ``distance_to_training``).
        seed: ``random`` only.
        costs: per slab_id, the cost of labelling its facet (any unit; None: all equal).
        max_cost: slabs whose cost is above it are not picked (None: no bound).

    Raises:
        SelectionError: a budget below 1, an unknown strategy, ``kcenter`` without embeddings or
            distances, or predictions without uncertainty (a single model).
    """
    if budget < 1:
        raise SelectionError(BUDGET_RULE)
    check_strategy(strategy)
    predictions = selectable(predictions)
    df = predictions.assign(score=uncertainty_score(predictions)).sort_values(
        ["score", "slab_id"], ascending=[False, True]
    )
    cost = {} if costs is None else costs.to_dict()
    if max_cost is not None and costs is not None:
        df = df[df["slab_id"].map(cost).fillna(0.0) <= max_cost]
    chooser = _chooser(df, strategy, embeddings, seed, lambda sid: cost.get(sid, 0.0))
    remaining = {cid: g for cid, g in df.groupby("compound_id", sort=False)}
    taken_facets: dict[str, set[str]] = {cid: set() for cid in remaining}
    picks: list[tuple[int, pd.Series]] = []
    rnd = 0
    while len(picks) < budget and remaining:
        rnd += 1
        order = sorted(remaining, key=lambda c: (-remaining[c]["score"].max(), c))
        for cid in order:
            g = remaining[cid]
            fresh = g[~g["miller_index"].isin(taken_facets[cid])]
            if fresh.empty:  # every facet of this compound picked once: any termination left
                fresh = g
            row = chooser(cid, fresh)
            picks.append((rnd, row))
            taken_facets[cid].add(row["miller_index"])
            remaining[cid] = g[g["slab_id"] != row["slab_id"]]
            if remaining[cid].empty:
                del remaining[cid]
            if len(picks) == budget:
                break
    out = pd.DataFrame([r for _, r in picks]).reset_index(drop=True)
    out.insert(0, "pick", np.arange(1, len(out) + 1))
    out["round"] = [rnd for rnd, _ in picks]
    return out


def cheapest_of_equal(values: list[float], costs: list[float]) -> int:
    """The position of the cheapest of ``values`` worth at least :data:`EQUAL_VALUE` of the best;
    among equally cheap ones the most valuable, then the first (``costs``: the cost of each)."""
    top = max(values)
    equal = [i for i, v in enumerate(values) if v >= EQUAL_VALUE * top]
    return min(equal, key=lambda i: (costs[i], -values[i], i))


def _chooser(
    df: pd.DataFrame,
    strategy: str,
    embeddings: dict[str, np.ndarray] | None,
    seed: int,
    cost: Callable[[str], float],
) -> Callable[[str, pd.DataFrame], pd.Series]:
    """``choose(compound_id, candidates)``: the row ``strategy`` picks among a compound's candidates
    (``cost``: of a slab_id, for :func:`cheapest_of_equal`)."""
    if strategy == "max_sigma":
        return lambda _cid, rows: rows.iloc[
            cheapest_of_equal(list(rows["score"]), [cost(s) for s in rows["slab_id"]])
        ]
    if strategy == "random":
        rng = np.random.default_rng(seed)
        return lambda _cid, rows: rows.iloc[int(rng.integers(len(rows)))]
    d0 = df.get("distance_to_training")
    if embeddings is None or d0 is None or not np.isfinite(d0.to_numpy(float)).all():
        raise SelectionError(
            "kcenter picks need the slabs' distances to the training data: screen again with the "
            "shipped ensemble (or one with a distance term), or use --strategy max_sigma"
        )
    near = dict(zip(df["slab_id"], d0.to_numpy(float), strict=True))  # distance to the labelled set

    def choose(_cid: str, rows: pd.DataFrame) -> pd.Series:
        ids = list(rows["slab_id"])
        best = cheapest_of_equal([near[i] for i in ids], [cost(i) for i in ids])
        pick = ids[best]
        for sid in df.loc[df["compound_id"] == _cid, "slab_id"]:  # the pick is labelled now
            near[sid] = min(near[sid], float(np.linalg.norm(embeddings[sid] - embeddings[pick])))
        return rows.iloc[best]

    return choose


def write_picks(
    picks: pd.DataFrame, bulks: dict[str, object], out: Path, preset: str = "default"
) -> dict[str, Path]:
    """``out/picks.parquet``, each picked compound's bulk as ``out/bulk/ID.json`` and
    ``out/label.sh`` (one ``semcgcnn label`` per picked compound and facet; ``preset``: its
    default GPAW preset)."""
    out = Path(out)
    (out / "bulk").mkdir(parents=True, exist_ok=True)
    for cid in picks["compound_id"].unique():
        (out / "bulk" / f"{cid}.json").write_text(json.dumps(bulks[cid].as_dict()))
    lines = [
        "#!/usr/bin/env bash",
        "# DFT labels of the picked slabs: every termination of each picked facet "
        "(semcgcnn label cuts them as the screen did). BACKEND: gpaw (default), vasp or mlip.",
        "set -euo pipefail",
        f"BACKEND=${{BACKEND:-gpaw}}; PRESET=${{PRESET:-{preset}}}",
    ]
    for (cid, hkl), _ in picks.groupby(["compound_id", "miller_index"], sort=False):
        h, k, miller_l = hkl.strip("()").split()
        lines.append(
            f'semcgcnn label "$(dirname "$0")/bulk/{cid}.json" --miller {h} {k} {miller_l} '
            f'--backend "$BACKEND" '
            f'--preset "$PRESET" --out "$(dirname "$0")/labels/{cid}_{h}{k}{miller_l}"'
        )
    (out / "label.sh").write_text("\n".join(lines) + "\n")
    keep = [
        "pick",
        "round",
        "slab_id",
        "compound_id",
        "miller_index",
        "termination_index",
        "surface_energy_eV_per_A2",
        "surface_energy_eV_per_A2_std",
        "work_function_eV",
        "work_function_eV_std",
        "score",
        "n_slabs",
        "max_atoms",
        "estimated_gpaw_fast_s",
        "estimated_gpaw_default_s",
        "out_of_domain",
        "applicability",
        "model_id",
    ]
    picks[[c for c in keep if c in picks]].to_parquet(out / "picks.parquet", index=False)
    return {"picks": out / "picks.parquet", "label_script": out / "label.sh", "bulk": out / "bulk"}


def slab_embeddings_of_screen(
    run_dir: Path, predictor: Predictor, slab_ids: list[str]
) -> dict[str, np.ndarray] | None:
    """Per slab_id, the relative embedding (:meth:`~semcgcnn.model.predict.Predictor.embeddings`)
    of the screen's slabs ``slab_ids`` (structures from its ``slabs`` table); ``None`` when the
    model has no reference."""
    from semcgcnn.io import structure_from_json
    from semcgcnn.model.graphs import featurize_structures
    from semcgcnn.pipeline.screen import results

    if predictor.reference is None:
        return None
    slabs, _ = results.read_table(run_dir, "slabs", ["slab_id", "structure_json"])
    slabs = slabs[slabs["slab_id"].isin(set(slab_ids))]
    structures = [structure_from_json(t) for t in slabs["structure_json"]]
    ids = list(slabs["slab_id"])
    graphs = featurize_structures(structures, ids, predictor.graph_config, workers=1)
    return dict(zip(ids, predictor.embeddings(graphs), strict=True))


def select_from_screen(
    run_dir: Path,
    budget: int,
    strategy: str = SHIPPED_STRATEGY,
    seed: int = 0,
    preset: str = "default",
    max_hours: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    """``(picks, manifest)``: :func:`select_slabs` on the finished screen in ``run_dir``, with the
    embeddings ``kcenter`` needs from the model that made the screen (refused if it is not the one
    its manifest names) and the estimated GPAW cost of labelling each slab's facet
    (:func:`~.label_cost.facet_costs`; ``preset``'s bounds the picks at ``max_hours``, None: no
    bound). The picks carry every preset's estimate; ``manifest["n_above_cost"]`` counts the
    selectable slabs left out by the bound."""
    from semcgcnn.pipeline.screen import results
    from semcgcnn.pipeline.screen.run import load_predictor

    from .label_cost import cost_column, facet_costs

    preds, manifest = results.read_table(run_dir, "predictions")
    pool = selectable(preds)
    embeddings = None
    if strategy == "kcenter":
        params = manifest.get("parameters", {})
        predictor = load_predictor(params.get("model"), bool(params.get("mlip_prior")))
        if predictor.model_id != manifest.get("model_id"):
            raise SelectionError(
                f"{run_dir} was screened by {manifest.get('model_id')}, which is not the model its "
                f"manifest names now ({predictor.model_id}): use --strategy max_sigma or screen again"
            )
        embeddings = slab_embeddings_of_screen(run_dir, predictor, list(pool["slab_id"]))
    facets = facet_costs(run_dir, manifest, list(pool["compound_id"].unique()))
    pool = pool.merge(facets, on=["compound_id", "miller_index"], how="left")
    costs = pool.set_index("slab_id")[cost_column(preset)]
    max_cost = None if max_hours is None else max_hours * 3600.0
    picks = select_slabs(pool, budget, strategy, embeddings, seed, costs, max_cost)
    n_above = 0 if max_cost is None else int((costs > max_cost).sum())
    return picks, {**manifest, "n_above_cost": n_above}
