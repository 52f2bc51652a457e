"""One batch of compounds whose slabs are cut → the rows of all six tables.

:func:`compound_tables` is the per-compound step (predictions already made): verdict, facet
minima, Wulff shape and rows; :func:`screen_compound` predicts one compound's slabs and applies
it; :func:`screen_batch` does so for each compound of a batch. All return plain rows; nothing
is written here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from semcgcnn.model.applicability import element_symbols
from semcgcnn.pipeline.slabs import SlabResult, slab_structure
from semcgcnn.schema import TABLES, empty_frame

from . import rows
from .candidates import Candidate
from .predictions import predict_slabs
from .ranking import unranked
from .wulff import compound_wulff, lowest_per_facet, weighted_spread

if TYPE_CHECKING:
    from semcgcnn.model.predict import Predictor

    from .mlip_prior import PriorPredictor


def domain_verdict(predictor: Predictor | PriorPredictor, cand: Candidate) -> tuple[bool, str]:
    """``(in_domain, reason)`` of the bulk compound ``cand`` for the model of ``predictor``."""
    _, out, verdict = predictor.applicability(element_symbols(cand.structure))
    return not out, verdict


def compound_tables(
    cand: Candidate,
    res: SlabResult,
    structures: dict[str, object],
    predictions: dict[str, dict],
    predictor: Predictor | PriorPredictor,
) -> dict[str, list[dict]]:
    """Rows of every table for one compound, from its slabs and their predictions (by ``slab_id``).

    ``cand`` is the compound; ``res`` its cut slabs (rows, conventional lattice, errors);
    ``structures`` and ``predictions`` the slabs' structures and prediction rows by ``slab_id``;
    ``predictor`` the model that made them (applicability verdict, ensemble scales, model id)."""
    in_domain, verdict = domain_verdict(predictor, cand)
    slab_rows = [rows.slab_table_row(s, structures[s["slab_id"]].to_json()) for s in res.slabs]
    pred_rows = [
        rows.prediction_row(s, predictions[s["slab_id"]]) for s in res.slabs if s["slab_id"] in predictions
    ]
    best = lowest_per_facet(pred_rows)
    rows.mark_facet_minima(pred_rows, best)
    shape, wulff_errors = compound_wulff(cand.compound_id, res.lattice, best)
    fractions = shape.area_fractions if shape is not None else [0.0] * len(best)
    members = {
        r["slab_id"]: {
            "surface_energy": r.pop("members_surface_energy_eV_per_A2"),
            "work_function": r.pop("members_work_function_eV"),
        }
        for r in pred_rows
        if "members_surface_energy_eV_per_A2" in r
    }
    distances = {r["slab_id"]: r.get("distance_to_training", math.nan) for r in pred_rows}
    spread = (
        weighted_spread(fractions, best, members, predictor.sigma_model, distances)
        if shape is not None
        else (math.nan,) * 2
    )
    return {
        "compounds": [rows.compound_row(cand, res, in_domain, verdict)],
        "slabs": slab_rows,
        "predictions": pred_rows,
        "facets": rows.facet_rows(cand.compound_id, best, fractions),
        "wulff": [
            rows.wulff_row(
                cand,
                best,
                shape,
                in_domain,
                verdict,
                predictor.model_id,
                {r["slab_id"]: bool(r["out_of_domain"]) for r in pred_rows},
                spread,
                res.spacegroup_symbol,
            )
        ],
        "errors": list(res.errors) + wulff_errors,
    }


def screen_compound(
    cand: Candidate, res: SlabResult, predictor: Predictor | PriorPredictor
) -> dict[str, list[dict]]:
    """Rows of every table for one compound whose slabs are cut: its slabs predicted in one call
    of their own, so a compound's numbers never depend on which others share its batch (float32
    inference rounds differently with the batch's make-up) — a screen gives the same tables with
    any worker count, batch size or resume point. Arguments as in :func:`compound_tables`."""
    structures = {s["slab_id"]: slab_structure(s) for s in res.slabs}
    predicted, errors = predict_slabs(predictor, structures)
    tables = compound_tables(cand, res, structures, {p["slab_id"]: p for p in predicted}, predictor)
    tables["errors"] = errors + tables["errors"]
    return tables


def screen_batch(
    batch: list[tuple[Candidate, SlabResult]], predictor: Predictor | PriorPredictor
) -> dict[str, pd.DataFrame]:
    """The six tables of a batch of compounds whose slabs are cut: ``batch`` holds each compound with
    its slabs, ``predictor`` the model to predict them with."""
    tables: dict[str, list[dict]] = {name: [] for name in TABLES}
    for cand, res in batch:
        for name, new in screen_compound(cand, res, predictor).items():
            tables[name].extend(new)
    frames = {name: pd.DataFrame(r) if r else empty_frame(name) for name, r in tables.items()}
    frames["wulff"] = unranked(frames["wulff"])
    return frames
