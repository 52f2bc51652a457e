"""Slab files → prediction rows with the flags the screen gives its slabs.

The model layer reads, featurizes and predicts the files (:func:`semcgcnn.model.predict_files.predict_files`);
here each file's structure is also checked for two equivalent faces with the screen's own test
(:func:`semcgcnn.pipeline.slabs.is_symmetric`, pymatgen's ``Slab.is_symmetric`` at the screen's
``slab_symprec``), giving the screen's ``symmetric_slab`` column, and each row gets a ``verdict``:
:data:`~semcgcnn.model.applicability.IN_DOMAIN`, else the row's out-of-domain ``applicability``
reason and/or :data:`ASYMMETRIC_SLAB`, joined by "; ".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from semcgcnn.model.applicability import IN_DOMAIN
from semcgcnn.model.predict_files import predict_files
from semcgcnn.pipeline.slabs import is_symmetric

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from semcgcnn.model.predict import Predictor

ASYMMETRIC_SLAB = "asymmetric slab (γ the mean of two faces)"
"""The verdict of a slab whose two faces differ: the screen's words for its asymmetric slabs
(``dominant facet from an asymmetric polar slab (γ the mean of two faces)`` on a Wulff row); the
model was trained on symmetric slabs only."""


def _symmetry(structure: Structure) -> dict[str, object]:
    """The ``symmetric_slab`` column of one file's structure (run where the file is read)."""
    return {"symmetric_slab": is_symmetric(structure)}


def verdict(out_of_domain: bool, applicability: str, symmetric_slab: bool) -> str:
    """The one-line verdict of a predicted slab: :data:`IN_DOMAIN` when the model's domain holds it
    (``out_of_domain`` False) and its faces are equivalent (``symmetric_slab``); otherwise the
    ``applicability`` reason (out of domain) and/or :data:`ASYMMETRIC_SLAB`, joined by "; "."""
    reasons = [applicability] if out_of_domain else []
    reasons += [] if symmetric_slab else [ASYMMETRIC_SLAB]
    return "; ".join(reasons) or IN_DOMAIN


def predict_slab_files(
    paths: list[Path], predictor: Predictor, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(predictions, errors)`` of the slab files under ``paths`` (the ``file_predictions`` and
    ``file_errors`` columns of :data:`semcgcnn.schema.SCHEMAS`): the model's rows
    (:func:`~semcgcnn.model.predict_files.predict_files`) with ``symmetric_slab`` and ``verdict``.

    Args:
        paths: slab files or folders of them.
        predictor: the model (:func:`semcgcnn.model.predict.load_pretrained`).
        progress: draw the reading bar.
    """
    preds, errors = predict_files(paths, predictor, progress=progress, describe=_symmetry)
    if "symmetric_slab" not in preds:  # no file predicted
        preds.insert(2, "symmetric_slab", pd.Series(dtype=bool))
    preds["symmetric_slab"] = preds["symmetric_slab"].astype(bool)
    flags = zip(preds["out_of_domain"], preds["applicability"], preds["symmetric_slab"], strict=True)
    preds["verdict"] = [verdict(bool(o), a, bool(s)) for o, a, s in flags]
    return preds, errors


def write_outputs(
    preds: pd.DataFrame, errors: pd.DataFrame, out: Path, predictor: Predictor
) -> tuple[Path, Path]:
    """Write the predictions Parquet ``out`` and its errors beside it (``OUT`` with
    ``.errors.parquet``), both or neither (schemas and provenance: :mod:`semcgcnn.schema`); returns
    both paths. A full disk raises :class:`~semcgcnn.paths.DiskFullError`."""
    from semcgcnn.schema import provenance, to_table, write_parquets

    meta = provenance(predictor.model_id, "files", {"graph_config": predictor.graph_config.to_dict()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    err = out.with_name(out.name.removesuffix(".parquet") + ".errors.parquet")
    write_parquets({out: to_table("file_predictions", preds), err: to_table("file_errors", errors)}, meta)
    return out, err
