"""Prediction stage of the screen: the model on a batch of slabs, a slab it cannot take an error row."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from semcgcnn.model.predict import Predictor

    from .mlip_prior import PriorPredictor


def predict_slabs(
    predictor: Predictor | PriorPredictor, structures: dict[str, object]
) -> tuple[list[dict], list[dict]]:
    """Prediction rows (keyed ``slab_id``, units in the keys, applicability verdict) for
    ``structures`` (``{slab_id: structure}``) by ``predictor``, and error rows for slabs the model
    cannot take.

    The batch is predicted at once; if that fails, slab by slab to isolate the bad ones."""
    if not structures:
        return [], []
    ids, items = list(structures), list(structures.values())
    errors: list[dict] = []
    try:
        df = predictor.predict(items, ids=ids, workers=1, keep_members=predictor.is_ensemble)
    except Exception:  # noqa: BLE001 - retry one by one to isolate the bad slab
        parts = []
        for sid, s in zip(ids, items, strict=True):
            try:
                parts.append(predictor.predict([s], ids=[sid], workers=1, keep_members=predictor.is_ensemble))
            except Exception as exc:  # noqa: BLE001
                errors.append({"stage": "predictions", "id": sid, "reason": str(exc).splitlines()[0]})
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["structure_id"])
    return df.rename(columns={"structure_id": "slab_id"}).to_dict("records"), errors
