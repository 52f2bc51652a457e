"""``semcgcnn predict`` on files: read, validate, featurize and predict, with one error row per
bad file (the rest of the batch still completes)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from .featurize import featurize
from .graphs import GraphSet
from .predict import Predictor, element_symbols

log = logging.getLogger(__name__)


def predict_files(paths: list[Path], predictor: Predictor, progress: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions for every usable structure file under ``paths``, and an errors table
    (``path``, ``structure_id``, ``reason``) for the rest."""
    from semcgcnn.io import InputError, find_structure_files, read_structure
    from semcgcnn.progress import progress_bar

    files, missing = find_structure_files(paths)
    errors = [{"path": str(p), "structure_id": p.stem, "reason": why} for p, why in missing]
    ids, ok_paths, graphs, elements = [], [], [], []
    with progress_bar("reading + featurizing", len(files), enabled=progress) as advance:
        for f in files:
            try:
                s = read_structure(f)
                graphs.append(featurize(s, predictor.graph_config))
            except (InputError, ValueError) as e:
                errors.append({"path": str(f), "structure_id": f.stem, "reason": str(e).splitlines()[0]})
            else:
                ids.append(f.stem)
                ok_paths.append(str(f))
                elements.append(element_symbols(s))
            advance(1)
    values = predictor.predict_graphs(GraphSet.from_graphs(ids, graphs, predictor.graph_config))
    preds = predictor.frame(ids, values, elements)
    preds.insert(1, "path", ok_paths)
    return preds, pd.DataFrame(errors, columns=["path", "structure_id", "reason"])


def write_outputs(preds: pd.DataFrame, errors: pd.DataFrame, out: Path, predictor: Predictor) -> tuple[Path, Path]:
    """Write the predictions and errors Parquet files (schemas and provenance: ``pipeline.schema``)."""
    from semcgcnn.pipeline.schema import provenance, to_table, write_parquet

    meta = provenance(predictor.model_id, "files", {"graph_config": predictor.graph_config.to_dict()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    err = out.with_name(out.name.removesuffix(".parquet") + ".errors.parquet")
    write_parquet(out, to_table("file_predictions", preds), meta)
    write_parquet(err, to_table("file_errors", errors), meta)
    return out, err
