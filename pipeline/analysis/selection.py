"""Which slabs to label next (``semcgcnn select``): the most uncertain predictions of a screen,
spread over compounds and facets.

The score of a slab is its calibrated 1σ on each task divided by that task's median 1σ over
the screen, summed (each task counts the same whatever its unit). Picks go round by round: in
each round every compound, in order of its best remaining score, gives at most one slab, the most
uncertain of a Miller index not yet picked for it; rounds repeat until the budget is spent. So a
budget of N labels N compounds before it labels a second facet of any of them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.errors import UserError

SCORE_COLUMNS = ("surface_energy_eV_per_A2_std", "work_function_eV_std")
BUDGET_RULE = "--budget must be ≥ 1"


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


def select_slabs(predictions: pd.DataFrame, budget: int) -> pd.DataFrame:
    """The ``budget`` picks among the :func:`selectable` slabs of a screen's ``predictions`` table
    (their rows with ``score`` and ``round``), in pick order.

    Args:
        predictions: the ``predictions`` table of a finished screen.
        budget: how many slabs to pick (≥ 1).

    Raises:
        SelectionError: a budget below 1, or predictions without uncertainty (a single model).
    """
    if budget < 1:
        raise SelectionError(BUDGET_RULE)
    predictions = selectable(predictions)
    df = predictions.assign(score=uncertainty_score(predictions)).sort_values(
        ["score", "slab_id"], ascending=[False, True]
    )
    remaining = {cid: g for cid, g in df.groupby("compound_id", sort=False)}
    taken_facets: dict[str, set[str]] = {cid: set() for cid in remaining}
    picks: list[tuple[int, pd.Series]] = []
    rnd = 0
    while len(picks) < budget and remaining:
        rnd += 1
        order = sorted(remaining, key=lambda c: (-remaining[c]["score"].iloc[0], c))
        for cid in order:
            g = remaining[cid]
            fresh = g[~g["miller_index"].isin(taken_facets[cid])]
            if fresh.empty:  # every facet of this compound picked once: any termination left
                fresh = g
            row = fresh.iloc[0]
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


def write_picks(picks: pd.DataFrame, bulks: dict[str, object], out: Path) -> dict[str, Path]:
    """``out/picks.parquet``, each picked compound's bulk as ``out/bulk/ID.json`` and
    ``out/label.sh`` (one ``semcgcnn label`` per picked compound and facet)."""
    out = Path(out)
    (out / "bulk").mkdir(parents=True, exist_ok=True)
    for cid in picks["compound_id"].unique():
        (out / "bulk" / f"{cid}.json").write_text(json.dumps(bulks[cid].as_dict()))
    lines = [
        "#!/usr/bin/env bash",
        "# DFT labels of the picked slabs: every termination of each picked facet "
        "(semcgcnn label cuts them as the screen did). BACKEND: gpaw (default), vasp or mlip.",
        "set -euo pipefail",
        "BACKEND=${BACKEND:-gpaw}; PRESET=${PRESET:-default}",
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
        "out_of_domain",
        "applicability",
        "model_id",
    ]
    picks[[c for c in keep if c in picks]].to_parquet(out / "picks.parquet", index=False)
    return {"picks": out / "picks.parquet", "label_script": out / "label.sh", "bulk": out / "bulk"}
