"""The kNN reference of a model's training slabs (:class:`~semcgcnn.model.distance.KNNReference`):
what the distance term of an ensemble's σ measures against, built from the rows its card says it
trained on, plus any labels it was fine-tuned on (so σ shrinks near slabs that were labelled).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semcgcnn.model.checkpoint import Checkpoint
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.distance import KNNReference, slab_embeddings
from semcgcnn.model.graphs import GraphSet

from .data import slab_graphs
from .recipes import split_rows

REFERENCE_FILE = "reference-embeddings.safetensors"


def training_graphs(checkpoint: Checkpoint) -> GraphSet:
    """The graphs of the shipped-dataset rows ``checkpoint`` trained on (its card's datasets,
    split and seed; the split's training rows), checked against the card's row count."""
    td = checkpoint.card["training_data"]
    gs, _, frame = slab_graphs(tuple(td["datasets"]), checkpoint.graph_config)
    tr, _, _ = split_rows(frame, td["split"], td["seed"])
    counts = td.get("n_train_val_test") or td.get("n_train_val") or [len(tr)]
    if len(tr) != counts[0]:
        raise ValueError(
            f"{td['split']} split seed {td['seed']} gives {len(tr)} training rows, the card says {counts[0]}"
        )
    return gs.subset(np.sort(tr))


def training_reference(
    checkpoint: Checkpoint, k: int, base: Checkpoint | None = None, extra: GraphSet | None = None
) -> KNNReference:
    """The reference of ``checkpoint``'s surface embeddings of its training slabs (those of
    ``base``'s card when ``checkpoint`` is a fine-tuned copy of ``base``) and of the ``extra``
    slabs it was fine-tuned on, with ``k`` neighbours."""
    graphs = training_graphs(base or checkpoint)
    parts = [graphs] + ([extra] if extra is not None and len(extra) else [])
    emb = np.concatenate(
        [
            slab_embeddings(
                checkpoint.model,
                GraphTensors(g, descriptors=checkpoint.descriptor_table),
                np.arange(len(g)),
            )
            for g in parts
        ]
    )
    return KNNReference.fit(emb, k)


def distance_section(
    reference: KNNReference, path: Path, card_folder: Path, sigma: dict, source: str
) -> dict:
    """Save ``reference`` at ``path`` and return the ensemble card's ``distance`` section naming it
    (relative to ``card_folder``) with its hash, the σ per task and where the σ came from."""
    sha = reference.save(path)
    return {
        "reference": str(Path(path).resolve().relative_to(Path(card_folder).resolve())),
        "reference_sha256": sha,
        "embedding": "surface",
        "k": reference.k,
        "sigma": sigma,
        "source": source,
    }
