"""Predict surface energy and work function of slabs with a trained SEM-CGCNN checkpoint.

>>> from semcgcnn.model.predict import load_pretrained     # doctest: +SKIP
>>> p = load_pretrained()                                   # the shipped model
>>> df = p.predict(slabs, ids=["a", "b"])                   # pandas DataFrame, one row per slab

Every row carries an applicability verdict: the elements the model never saw in training, and
whether the slab is out of the training domain (unseen elements, or anion chemistry - oxides,
nitrides, halides, hydrides - that the intermetallic training slabs do not cover).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.datasets import EV_PER_A2_TO_J_PER_M2

from .applicability import element_symbols, element_verdict, prediction_verdicts
from .checkpoint import SHIPPED_MODEL, Checkpoint, load_checkpoint
from .data import GraphTensors
from .graphs import GraphSet, featurize_structures
from .inference import predict as predict_rows

log = logging.getLogger(__name__)

PREDICT_BATCH = 16
"""Slabs per forward pass: small batches keep the (atoms × 12 × 128) edge tensor in cache;
measured on 2 cores over the 3218 Mg slabs, 16 beat 8, 32, 64 and 512 (bench/predict.py)."""


class Predictor:
    """A loaded checkpoint plus what it needs to predict (graph config, descriptors, domain)."""

    def __init__(self, checkpoint: Checkpoint, compile: bool = False):
        """``compile``: ``torch.compile`` the convolutions' edge work (≈ 1.4× faster on large
        batches, after a one-off compile of a few seconds; falls back to eager if it fails)."""
        self.checkpoint = checkpoint
        self.compiled = bool(compile)
        checkpoint.model.compile_inference(self.compiled)
        card = checkpoint.card
        desc = card.get("element_descriptors")
        self.descriptors = np.asarray(desc["table"], dtype=np.float32) if desc else None
        self.training_elements = frozenset(card.get("training_elements", []))

    @property
    def model_id(self) -> str:
        return self.checkpoint.model_id

    @property
    def graph_config(self):
        return self.checkpoint.graph_config

    def predict_graphs(self, graphs: GraphSet, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """(n, n_tasks) predictions in the checkpoint's units for already-built graphs."""
        import torch

        data = GraphTensors(graphs, descriptors=self.descriptors, shared_edges=True)
        run = lambda: predict_rows(self.checkpoint.model, data, np.arange(len(data)),  # noqa: E731
                                   self.checkpoint.normalizer, batch_size=batch_size)
        with torch.inference_mode():
            if not self.compiled:
                return run()
            try:
                return run()
            except Exception as e:  # noqa: BLE001 - e.g. no C compiler: predict all the same
                log.warning("torch.compile failed (%s); predicting without it", str(e).splitlines()[0][:200])
                self.compiled = False
                self.checkpoint.model.compile_inference(False)
                return run()

    def applicability(self, elements: Sequence[str]) -> tuple[str, bool, str]:
        """``(unseen_elements, out_of_domain, verdict)`` for a structure of these element symbols
        (:mod:`semcgcnn.model.applicability`)."""
        return element_verdict(elements, self.training_elements).as_tuple()

    def frame(self, ids: Sequence[str], values: np.ndarray, elements: Sequence[Sequence[str]]) -> pd.DataFrame:
        """The prediction table (units in column names) for rows already predicted."""
        tasks = list(self.checkpoint.tasks)
        se = values[:, tasks.index("surface_energy")] if "surface_energy" in tasks else np.full(len(ids), np.nan)
        wf = values[:, tasks.index("work_function")] if "work_function" in tasks else np.full(len(ids), np.nan)
        verdicts = prediction_verdicts(elements, se, self.training_elements)
        return pd.DataFrame({
            "structure_id": list(ids),
            "surface_energy_eV_per_A2": se.astype(float),
            "surface_energy_J_per_m2": se.astype(float) * EV_PER_A2_TO_J_PER_M2,
            "work_function_eV": wf.astype(float),
            "model_id": self.model_id,
            "unseen_elements": [v.unseen_elements for v in verdicts],
            "out_of_domain": [v.out_of_domain for v in verdicts],
            "applicability": [v.applicability for v in verdicts],
        })

    def predict(self, structures: Sequence, ids: Sequence[str] | None = None, workers: int | None = None,
                progress=None) -> pd.DataFrame:
        """Predict pymatgen slabs (``Structure``/``Slab``); one row per structure, in order.

        Raises ``ValueError`` for a structure that cannot be featurized (use the CLI or
        :func:`semcgcnn.model.predict_files.predict_files` for per-file error rows)."""
        ids = [str(i) for i in (ids if ids is not None else range(len(structures)))]
        if len(ids) != len(structures):
            raise ValueError(f"{len(structures)} structures but {len(ids)} ids")
        graphs = featurize_structures(list(structures), ids, self.graph_config, workers=workers, progress=progress)
        elements = [element_symbols(s) for s in structures]
        return self.frame(ids, self.predict_graphs(graphs), elements)


def load_pretrained(path: str | Path | None = None, compile: bool = False) -> Predictor:
    """The shipped SEM-CGCNN model, or the checkpoint at ``path`` (``.json``/``.safetensors`` stem);
    ``compile``: see :class:`Predictor`."""
    return Predictor(load_checkpoint(Path(path) if path else SHIPPED_MODEL), compile=compile)
