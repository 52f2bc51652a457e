"""``semcgcnn dissolution RUN_DIR``: the dissolution equilibrium potential of every compound of a
finished screen, written as ``RUN_DIR/dissolution.parquet`` (schema ``dissolution``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from semcgcnn.pipeline.screen import results

from .dissolution import DEFAULT_CONDITIONS, Conditions, equilibrium_potential
from .formation_energy import formation_energies, resolve_source

log = logging.getLogger(__name__)


def dissolution_frame(
    run_dir: Path,
    source: str = "auto",
    cond: Conditions = DEFAULT_CONDITIONS,
    advance: Callable[..., None] | None = None,
) -> pd.DataFrame:
    """One row per compound of the screen in ``run_dir`` (columns of the ``dissolution`` schema).

    Args:
        run_dir: a finished screen's folder.
        source: where formation energies come from (:func:`~.formation_energy.resolve_source`).
        cond: pH and concentration of the dissolved species.
        advance: called once per compound as its formation energy is known.

    Raises:
        UserError: the source cannot be used, or ``run_dir`` is not a finished screen whose
            candidates can be read again.
    """
    src = resolve_source(source)
    compounds, manifest = results.read_table(run_dir, "compounds")
    ids = list(compounds["compound_id"])
    bulks = results.bulk_structures(manifest, ids)
    fe = formation_energies(bulks, src, advance=advance)
    rows = []
    for cid in ids:
        f = fe[cid]
        d = equilibrium_potential(bulks[cid].composition, f.eV_per_atom, cond)
        rows.append(
            {
                "compound_id": cid,
                "formula": d.reduced_formula,
                "formation_energy_eV_per_atom": f.eV_per_atom,
                "formation_energy_source": f.source,
                "equilibrium_potential_V_SHE": d.equilibrium_potential_V_SHE,
                "electrons_per_formula_unit": d.electrons_per_formula_unit,
                "dissolved_species": d.species,
                "reaction": d.reaction,
                "pH": cond.pH,
                "concentration_mol_per_L": cond.concentration_mol_per_L,
                "reason": f.reason or d.reason,
            }
        )
    return pd.DataFrame(rows)


def write_dissolution(
    run_dir: Path, frame: pd.DataFrame, source: str, cond: Conditions = DEFAULT_CONDITIONS
) -> Path:
    """``run_dir/dissolution.parquet`` with its provenance."""
    from dataclasses import asdict

    from semcgcnn.schema import provenance, to_table, write_parquet

    _, manifest = results.read_table(run_dir, "compounds")
    path = results.table_path(run_dir, results.DISSOLUTION)
    meta = provenance(
        manifest.get("model_id", ""),
        "semcgcnn dissolution",
        {
            "source": source,
            "conditions": asdict(cond),
            "ion_table": "reference_tables/"
            "aqueous_ion_formation_energies.csv (GNscSHI/GalvCalc ion_energy.yaml)",
        },
    )
    write_parquet(path, to_table("dissolution", frame), meta)
    return path


def summary(frame: pd.DataFrame) -> dict[str, int]:
    """Rows with a potential per formation-energy source, and rows without one."""
    ok = frame["equilibrium_potential_V_SHE"].map(lambda v: math.isfinite(v))
    out = {str(k): int(v) for k, v in frame[ok]["formation_energy_source"].value_counts().items()}
    out["no potential"] = int((~ok).sum())
    return out
