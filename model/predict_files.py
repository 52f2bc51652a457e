"""``semcgcnn predict`` on files: read, validate, featurize and predict, with one error row per
bad file (the rest of the batch still completes)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .applicability import element_symbols
from .featurize import featurize
from .graphs import GraphSet
from .predict import Predictor

if TYPE_CHECKING:
    from .config import GraphConfig

log = logging.getLogger(__name__)

PARALLEL_MIN_FILES = 64  # below this, a process pool costs more than it saves
_CHUNK = 16


def _read_chunk(args: tuple[list[Path], GraphConfig]) -> list[tuple]:
    """``(path, graph, elements, error)`` per file of one chunk (runs in a worker process)."""
    from semcgcnn.io import InputError, read_structure

    paths, graph_config = args
    out = []
    for f in paths:
        try:
            s = read_structure(f)
            out.append((f, featurize(s, graph_config), element_symbols(s), None))
        except (InputError, ValueError) as e:
            out.append((f, None, None, str(e).splitlines()[0]))
    return out


def predict_files(
    paths: list[Path], predictor: Predictor, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions for every usable structure file under ``paths``, and an errors table
    (``path``, ``structure_id``, ``reason``) for the rest; every row's ``structure_id`` is unique
    (:func:`semcgcnn.io.structure_ids`: a file named twice is an ``InputError``)."""
    from semcgcnn.io import find_structure_files, structure_ids
    from semcgcnn.parallel import map_chunks
    from semcgcnn.progress import progress_bar

    files, missing = find_structure_files(paths)
    named = [p for p, _ in missing] + files
    sid = dict(zip(map(str, named), structure_ids(named), strict=True))
    errors = [{"path": str(p), "structure_id": sid[str(p)], "reason": why} for p, why in missing]
    ids, ok_paths, graphs, elements = [], [], [], []
    chunks = [(files[i : i + _CHUNK], predictor.graph_config) for i in range(0, len(files), _CHUNK)]
    with progress_bar("reading + featurizing", len(files), enabled=progress) as advance:
        rows = map_chunks(_read_chunk, chunks, parallel=len(files) >= PARALLEL_MIN_FILES, progress=advance)
    for f, graph, els, why in rows:  # in file order, whichever process read them
        if why is not None:
            errors.append({"path": str(f), "structure_id": sid[str(f)], "reason": why})
        else:
            ids.append(sid[str(f)])
            ok_paths.append(str(f))
            graphs.append(graph)
            elements.append(els)
    graph_set = GraphSet.from_graphs(ids, graphs, predictor.graph_config)
    members = predictor.predict_members(graph_set)
    preds = predictor.frame(ids, members, elements, distance=predictor.distance(graph_set))
    preds.insert(1, "path", ok_paths)
    return preds, pd.DataFrame(errors, columns=["path", "structure_id", "reason"])


def write_outputs(
    preds: pd.DataFrame, errors: pd.DataFrame, out: Path, predictor: Predictor
) -> tuple[Path, Path]:
    """Write the predictions and errors Parquet files, both or neither (schemas and provenance:
    ``semcgcnn.schema``); a full disk raises :class:`~semcgcnn.paths.DiskFullError`."""
    from semcgcnn.schema import provenance, to_table, write_parquets

    meta = provenance(predictor.model_id, "files", {"graph_config": predictor.graph_config.to_dict()})
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    err = out.with_name(out.name.removesuffix(".parquet") + ".errors.parquet")
    write_parquets({out: to_table("file_predictions", preds), err: to_table("file_errors", errors)}, meta)
    return out, err
