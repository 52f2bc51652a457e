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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.runtime import keep_freed_memory
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

from .applicability import element_symbols, element_verdict, prediction_verdicts
from .checkpoint import SHIPPED_ENSEMBLE, SHIPPED_MODEL, Checkpoint, load_checkpoint
from .config import GraphConfig
from .data import GraphTensors
from .distance import KNNReference, slab_embeddings
from .graphs import GraphSet, featurize_structures
from .inference import predict_members
from .uncertainty import SigmaModel

log = logging.getLogger(__name__)

PREDICT_BATCH = 16
"""Slabs per forward pass: small batches keep the (edges × members × 128) edge tensor small;
measured on 2 cores over the 3218 Mg slabs, 16 beat 8, 32, 64 and 512 (bench/predict.py)."""


class Predictor:
    """A loaded checkpoint plus what it needs to predict (graph config, descriptors, domain)."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        compile: bool = False,
        members: Sequence[Checkpoint] = (),
        std_scale: dict[str, float] | None = None,
        ensemble_id: str = "",
        center: str = "mean",
        sigma_model: SigmaModel | None = None,
        reference: KNNReference | None = None,
    ):
        """``compile``: ``torch.compile`` the convolutions' edge work (≈ 1.4× faster on large
        batches, after a one-off compile of a few seconds; falls back to eager if it fails).
        ``members``: the checkpoints of an ensemble (``checkpoint`` is the first; see
        :func:`load_pretrained`), ``std_scale`` its calibration per task, ``ensemble_id`` its id,
        ``center`` what predicts: the members' ``mean`` or the ``first`` member (the others only
        widen its uncertainty). ``sigma_model``: how σ is made from the members' spread and the
        distance to ``reference``, the first member's training embeddings (default: the spread
        times ``std_scale``)."""
        self.checkpoint = checkpoint
        self.members = list(members) or [checkpoint]
        self.std_scale = dict(std_scale or {})
        self.sigma_model = sigma_model or SigmaModel.spread_only(self.std_scale)
        self.reference = reference
        self._ensemble_id = ensemble_id
        self.center = center
        self.compiled = bool(compile)
        for m in self.members:
            m.model.compile_inference(self.compiled)
        self.descriptors = checkpoint.descriptor_table
        keep_freed_memory()  # prediction's edge tensors are tens of MB: reuse freed blocks (as training does)
        self.training_elements = frozenset(checkpoint.card.get("training_elements", []))

    @property
    def model_id(self) -> str:
        return self._ensemble_id or self.checkpoint.model_id

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    @property
    def graph_config(self) -> GraphConfig:
        """The graph construction the model was trained on (from its checkpoint)."""
        return self.checkpoint.graph_config

    def predict_members(self, graphs: GraphSet, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """(k, n, n_tasks) predictions of each of the k members (k = 1 for a single model), in the
        checkpoint's units, for already-built graphs."""
        import torch

        data = GraphTensors(graphs, descriptors=self.descriptors, shared_edges=True)

        def run() -> np.ndarray:
            return predict_members(
                [m.model for m in self.members],
                [m.normalizer for m in self.members],
                data,
                np.arange(len(data)),
                batch_size=batch_size,
            )

        with torch.inference_mode():
            if not self.compiled:
                return run()
            try:
                return run()
            except Exception as e:  # noqa: BLE001 - e.g. no C compiler: predict all the same
                log.warning("torch.compile failed (%s); predicting without it", str(e).splitlines()[0][:200])
                self.compiled = False
                for m in self.members:
                    m.model.compile_inference(False)
                return run()

    def _raw_embeddings(self, graphs: GraphSet) -> np.ndarray:
        import torch

        data = GraphTensors(graphs, descriptors=self.descriptors, shared_edges=True)
        with torch.inference_mode():
            return slab_embeddings(self.checkpoint.model, data, np.arange(len(data)))

    def distance(self, graphs: GraphSet) -> np.ndarray | None:
        """(n,) relative distance of each slab to the training slabs in the first member's own
        representation (:meth:`~semcgcnn.model.distance.KNNReference.relative_distances`), or
        ``None`` without a reference."""
        if self.reference is None:
            return None
        return self.reference.relative_distances(self._raw_embeddings(graphs))

    def embeddings(self, graphs: GraphSet) -> np.ndarray | None:
        """(n, D) the slabs' surface embeddings standardised as the reference is and divided by
        its scale, so the Euclidean distance between two rows is in the units of :meth:`distance`;
        ``None`` without a reference."""
        if self.reference is None:
            return None
        return self.reference.standardise(self._raw_embeddings(graphs)).numpy() / self.reference.scale

    def predict_graphs(self, graphs: GraphSet, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """(n, n_tasks) predictions (an ensemble's centre, :meth:`central`) for already-built graphs."""
        return self.central(self.predict_members(graphs, batch_size))

    def central(self, members: np.ndarray) -> np.ndarray:
        """The prediction from member predictions ``(k, n, n_tasks)``: their mean, or the first's."""
        return members[0] if self.center == "first" else members.mean(axis=0)

    def spread(self, members: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
        """(n, n_tasks) calibrated uncertainty (1σ) from member predictions ``(k, n, n_tasks)``
        and the slabs' relative ``distance`` (:meth:`distance`; ``None``: spread only): the
        members' standard deviation and the distance combined per task by :attr:`sigma_model`;
        NaN for a single model."""
        if len(members) < 2:
            return np.full(members.shape[1:], np.nan)
        return self.sigma_model.sigma(self.checkpoint.tasks, members.std(axis=0, ddof=1), distance)

    def applicability(self, elements: Sequence[str]) -> tuple[str, bool, str]:
        """``(unseen_elements, out_of_domain, verdict)`` for a structure of these element symbols
        (:mod:`semcgcnn.model.applicability`)."""
        return element_verdict(elements, self.training_elements).as_tuple()

    def frame(
        self,
        ids: Sequence[str],
        members: np.ndarray,
        elements: Sequence[Sequence[str]],
        keep_members: bool = False,
        distance: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """The prediction table (units in column names) for rows already predicted by the members
        (``(k, n, n_tasks)``, or ``(n, n_tasks)`` for one model) at relative ``distance``
        (:meth:`distance`): the centre, each task's calibrated 1σ in ``*_std`` (NaN for a single
        model) and ``distance_to_training``. ``keep_members``: also the members' values per row
        (lists, for the Wulff stage's propagation; not a table column)."""
        members = members[None] if members.ndim == 2 else members
        values, std = self.central(members), self.spread(members, distance)
        tasks = list(self.checkpoint.tasks)

        def col(a: np.ndarray, task: str) -> np.ndarray:
            return a[..., tasks.index(task)].astype(float) if task in tasks else np.full(a.shape[:-1], np.nan)

        se = col(values, "surface_energy")
        verdicts = prediction_verdicts(elements, se, self.training_elements)
        df = pd.DataFrame(
            {
                "structure_id": list(ids),
                "surface_energy_eV_per_A2": se,
                "surface_energy_J_per_m2": se * EV_PER_A2_TO_J_PER_M2,
                "work_function_eV": col(values, "work_function"),
                "surface_energy_eV_per_A2_std": col(std, "surface_energy"),
                "work_function_eV_std": col(std, "work_function"),
                "distance_to_training": (
                    np.asarray(distance, dtype=float) if distance is not None else np.full(len(ids), np.nan)
                ),
                "model_id": self.model_id,
                "unseen_elements": [v.unseen_elements for v in verdicts],
                "out_of_domain": [v.out_of_domain for v in verdicts],
                "applicability": [v.applicability for v in verdicts],
            }
        )
        if keep_members:
            df["members_surface_energy_eV_per_A2"] = list(col(members, "surface_energy").T)
            df["members_work_function_eV"] = list(col(members, "work_function").T)
        return df

    def predict(
        self,
        structures: Sequence,
        ids: Sequence[str] | None = None,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
        keep_members: bool = False,
    ) -> pd.DataFrame:
        """Predict pymatgen slabs (``Structure``/``Slab``); one row per structure, in order.

        Raises ``ValueError`` for a structure that cannot be featurized (use the CLI or
        :func:`semcgcnn.model.predict_files.predict_files` for per-file error rows)."""
        ids = [str(i) for i in (ids if ids is not None else range(len(structures)))]
        if len(ids) != len(structures):
            raise ValueError(f"{len(structures)} structures but {len(ids)} ids")
        graphs = featurize_structures(
            list(structures), ids, self.graph_config, workers=workers, progress=progress
        )
        elements = [element_symbols(s) for s in structures]
        return self.frame(ids, self.predict_members(graphs), elements, keep_members, self.distance(graphs))


def load_pretrained(path: str | Path | None = None, compile: bool = False) -> Predictor:
    """The shipped SEM-CGCNN model (an ensemble where one is shipped), or the checkpoint or
    ensemble card at ``path`` (``.json``/``.safetensors`` stem); ``compile``: see :class:`Predictor`."""
    from .ensemble import is_ensemble_card, load_ensemble

    path = Path(path) if path else SHIPPED_ENSEMBLE if is_ensemble_card(SHIPPED_ENSEMBLE) else SHIPPED_MODEL
    if is_ensemble_card(path):
        ens = load_ensemble(path)
        return Predictor(
            ens.members[0],
            compile=compile,
            members=ens.members,
            std_scale=ens.calibration,
            ensemble_id=ens.model_id,
            center=ens.center,
            sigma_model=ens.sigma_model,
            reference=ens.reference,
        )
    return Predictor(load_checkpoint(path), compile=compile)
