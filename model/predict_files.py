"""Structure files → predictions: read, validate, featurize and predict, with one error row per
bad file (the rest of the batch still completes). ``semcgcnn predict`` adds the screen's slab
flags on top (:mod:`semcgcnn.pipeline.predict.files`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .applicability import element_symbols
from .featurize import featurize
from .graphs import GraphSet
from .predict import Predictor

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from .config import GraphConfig

Describe = Callable[["Structure"], dict[str, object]]
"""``describe(structure) -> {column: value}``: more columns of a file's row, computed from its structure
while it is read (in the worker process; a module-level function, so that it pickles)."""

log = logging.getLogger(__name__)

PARALLEL_MIN_FILES = 64  # below this, a process pool costs more than it saves
_CHUNK = 16


def _read_chunk(args: tuple[list[Path], GraphConfig, Describe | None]) -> list[tuple]:
    """``(path, graph, elements, described columns, error)`` per file of one chunk (runs in a
    worker process)."""
    from semcgcnn.io import InputError, read_structure

    paths, graph_config, describe = args
    out = []
    for f in paths:
        try:
            s = read_structure(f)
            graph = featurize(s, graph_config)
            out.append((f, graph, element_symbols(s), describe(s) if describe else {}, None))
        except (InputError, ValueError) as e:
            out.append((f, None, None, None, str(e).splitlines()[0]))
    return out


def predict_files(
    paths: list[Path], predictor: Predictor, progress: bool = True, describe: Describe | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions for every usable structure file under ``paths``, and an errors table
    (``path``, ``structure_id``, ``reason``) for the rest; every row's ``structure_id`` is unique
    (:func:`semcgcnn.io.structure_ids`: a file named twice is an ``InputError``). ``describe``:
    more columns per predicted file from its structure (:data:`Describe`), after ``path``."""
    from semcgcnn.io import find_structure_files, structure_ids
    from semcgcnn.parallel import map_chunks
    from semcgcnn.progress import progress_bar

    files, missing = find_structure_files(paths)
    named = [p for p, _ in missing] + files
    sid = dict(zip(map(str, named), structure_ids(named), strict=True))
    errors = [{"path": str(p), "structure_id": sid[str(p)], "reason": why} for p, why in missing]
    ids, ok_paths, graphs, elements, described = [], [], [], [], []
    chunks = [(files[i : i + _CHUNK], predictor.graph_config, describe) for i in range(0, len(files), _CHUNK)]
    with progress_bar("reading + featurizing", len(files), enabled=progress) as advance:
        rows = map_chunks(_read_chunk, chunks, parallel=len(files) >= PARALLEL_MIN_FILES, progress=advance)
    for f, graph, els, extra, why in rows:  # in file order, whichever process read them
        if why is not None:
            errors.append({"path": str(f), "structure_id": sid[str(f)], "reason": why})
        else:
            ids.append(sid[str(f)])
            ok_paths.append(str(f))
            graphs.append(graph)
            elements.append(els)
            described.append(extra)
    graph_set = GraphSet.from_graphs(ids, graphs, predictor.graph_config)
    members = predictor.predict_members(graph_set)
    preds = predictor.frame(ids, members, elements, distance=predictor.distance(graph_set))
    preds.insert(1, "path", ok_paths)
    for i, (col, values) in enumerate(pd.DataFrame(described, index=preds.index).items()):
        preds.insert(2 + i, col, values)
    return preds, pd.DataFrame(errors, columns=["path", "structure_id", "reason"])
