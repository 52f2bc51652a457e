"""What labelling a pick would cost, before anything runs: the GPAW wall time estimate
(:func:`~semcgcnn.pipeline.labelling.gpaw.estimate_seconds`) of the calculations ``label.sh``
runs for the pick's facet: a single point of the compound's bulk and a relaxation of every
termination of that facet (``semcgcnn label --miller h k l`` labels them all)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

PRESETS = ("fast", "default")
"""The GPAW presets whose estimate every pick carries (``estimated_gpaw_<preset>_s``)."""


def cost_column(preset: str) -> str:
    """The picks' column of ``preset``'s estimate."""
    return f"estimated_gpaw_{preset}_s"


def facet_costs(run_dir: Path, manifest: dict, compound_ids: Sequence[str]) -> pd.DataFrame:
    """Per ``(compound_id, miller_index)`` facet of ``compound_ids`` in the screen ``run_dir``
    (manifest ``manifest``): ``n_slabs``, ``max_atoms`` and one :func:`cost_column` per
    :data:`PRESETS` (seconds, on the estimate's machine)."""
    from semcgcnn.io import structure_from_json
    from semcgcnn.pipeline.labelling.gpaw import estimate_seconds

    from ..screen import results

    slabs, _ = results.read_table(
        run_dir, "slabs", ["compound_id", "miller_index", "n_atoms", "structure_json"]
    )
    slabs = slabs[slabs["compound_id"].isin(set(compound_ids))]
    bulks = results.bulk_structures(manifest, list(dict.fromkeys(compound_ids)))
    rows = []
    for (cid, hkl), g in slabs.groupby(["compound_id", "miller_index"], sort=False):
        structures = [structure_from_json(t) for t in g["structure_json"]]
        row = {
            "compound_id": cid,
            "miller_index": hkl,
            "n_slabs": len(g),
            "max_atoms": int(g["n_atoms"].max()),
        }
        for preset in PRESETS:
            row[cost_column(preset)] = estimate_seconds(bulks[cid], "bulk", preset, relax=False) + sum(
                estimate_seconds(s, "slab", preset, relax=True) for s in structures
            )
        rows.append(row)
    return pd.DataFrame(rows)
