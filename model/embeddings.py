"""Element embeddings of a trained network (the paper's Fig. 4): each element's input row (its 92
CGCNN features, surface flag 0, and the checkpoint's element descriptors if it uses any) through
the network's embedding layer, and their Pearson correlations, ordered by Mendeleev number.

The vectors are the embedding layer's output, before any convolution, so they describe the
element alone (no neighbours), which makes them a property of the checkpoint, not of a structure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from .atom_features import ELEMENT_SYMBOLS, atom_feature_table, check_elements
from .checkpoint import Checkpoint


def mendeleev_order(elements: Sequence[str]) -> list[str]:
    """``elements`` sorted by Mendeleev (Pettifor) number, pymatgen's ``Element.mendeleev_no``
    (ties, if any, by atomic number)."""
    from pymatgen.core import Element

    return sorted(elements, key=lambda s: (Element(s).mendeleev_no, Element(s).Z))


def element_input_rows(checkpoint: Checkpoint, atomic_numbers: np.ndarray) -> torch.Tensor:
    """(n, 93 + n_descriptors) per-element feature rows laid out as :class:`~semcgcnn.model.data.GraphTensors`
    lays out an atom's (92 CGCNN features, surface flag 0, the checkpoint's descriptor row)."""
    z = np.asarray(atomic_numbers, dtype=np.int64)
    check_elements(z)
    parts = [atom_feature_table()[z], np.zeros((len(z), 1), dtype=np.float32)]
    if checkpoint.model.cfg.n_descriptors:
        table = checkpoint.descriptor_table
        if table is None:
            raise ValueError(
                f"{checkpoint.model_id} uses {checkpoint.model.cfg.n_descriptors} element descriptors "
                "but its card holds no element_descriptors table"
            )
        parts.append(table[z])
    return torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32))


def default_elements(checkpoint: Checkpoint) -> list[str]:
    """The elements the checkpoint was trained on (its card's ``training_elements``)."""
    elements = checkpoint.card.get("training_elements")
    if not elements:
        raise ValueError(f"{checkpoint.model_id}: the card lists no training_elements; pass elements=")
    return list(elements)


@torch.no_grad()
def element_embeddings(checkpoint: Checkpoint, elements: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per element (index ``element``, Mendeleev order), columns ``emb_0..emb_{n-1}``
    (``n = atom_fea_len``): the network's embedding layer applied to the element's input row.
    ``elements``: symbols (default :func:`default_elements`)."""
    symbols = mendeleev_order(list(dict.fromkeys(elements or default_elements(checkpoint))))
    index = {s: z for z, s in enumerate(ELEMENT_SYMBOLS) if s}
    unknown = [s for s in symbols if s not in index]
    if unknown:
        raise ValueError(f"unknown element symbol(s): {', '.join(unknown)}")
    model = checkpoint.model.eval()
    rows = element_input_rows(checkpoint, np.array([index[s] for s in symbols]))
    emb = model.embedding(rows.index_select(1, model.input_cols)).double().numpy()
    cols = [f"emb_{k}" for k in range(emb.shape[1])]
    return pd.DataFrame(emb, index=pd.Index(symbols, name="element"), columns=cols)


def embedding_correlation(df: pd.DataFrame) -> pd.DataFrame:
    """Pearson correlation between the elements' embedding vectors (rows of ``df``), same order."""
    c = np.corrcoef(df.to_numpy(dtype=float))
    return pd.DataFrame(c, index=df.index.copy(), columns=df.index.copy())
