"""``semcgcnn dissolution RUN_DIR``: the dissolution equilibrium potential of every compound of a
finished screen, written as ``RUN_DIR/dissolution.parquet`` (schema ``dissolution``)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .dissolution import DEFAULT_CONDITIONS, Conditions, equilibrium_potential
from .formation_energy import FormationEnergyError, formation_energies, resolve_source

log = logging.getLogger(__name__)

TABLE = "dissolution.parquet"


class DissolutionError(ValueError):
    """A run folder or source the user must fix (one line)."""


def read_compounds(run_dir: Path) -> tuple[pd.DataFrame, dict]:
    """A finished screen's ``compounds`` table and its manifest."""
    from semcgcnn.pipeline.screen.run import read_finished

    return read_finished(run_dir, "compounds", DissolutionError)


def dissolution_frame(run_dir: Path, source: str = "auto", cond: Conditions = DEFAULT_CONDITIONS,
                      advance: Callable[..., None] | None = None) -> pd.DataFrame:
    """One row per compound of the screen in ``run_dir`` (columns of the ``dissolution`` schema)."""
    from .selection import SelectionError, screen_bulks

    try:
        src = resolve_source(source)
    except FormationEnergyError as exc:
        raise DissolutionError(str(exc)) from None
    compounds, manifest = read_compounds(run_dir)
    ids = list(compounds["compound_id"])
    try:
        bulks = screen_bulks(manifest, ids)
        fe = formation_energies(bulks, src, advance=advance)
    except (SelectionError, FormationEnergyError) as exc:
        raise DissolutionError(str(exc)) from None
    rows = []
    for cid in ids:
        f = fe[cid]
        d = equilibrium_potential(bulks[cid].composition, f.eV_per_atom, cond)
        rows.append({
            "compound_id": cid, "formula": d.reduced_formula, "formation_energy_eV_per_atom": f.eV_per_atom,
            "formation_energy_source": f.source, "equilibrium_potential_V_SHE": d.equilibrium_potential_V_SHE,
            "electrons_per_formula_unit": d.electrons_per_formula_unit, "dissolved_species": d.species,
            "reaction": d.reaction, "pH": cond.pH, "concentration_mol_per_L": cond.concentration_mol_per_L,
            "reason": f.reason or d.reason,
        })
    return pd.DataFrame(rows)


def write_dissolution(run_dir: Path, frame: pd.DataFrame, source: str, cond: Conditions = DEFAULT_CONDITIONS) -> Path:
    """``run_dir/dissolution.parquet`` with its provenance."""
    from dataclasses import asdict

    from semcgcnn.schema import provenance, to_table, write_parquet

    _, manifest = read_compounds(run_dir)
    path = Path(run_dir) / TABLE
    meta = provenance(manifest.get("model_id", ""), "semcgcnn dissolution",
                      {"source": source, "conditions": asdict(cond), "ion_table": "reference_tables/"
                       "aqueous_ion_formation_energies.csv (GNscSHI/GalvCalc ion_energy.yaml)"})
    write_parquet(path, to_table("dissolution", frame), meta)
    return path


def summary(frame: pd.DataFrame) -> dict[str, int]:
    """Rows with a potential per formation-energy source, and rows without one."""
    ok = frame["equilibrium_potential_V_SHE"].map(lambda v: math.isfinite(v))
    out = {str(k): int(v) for k, v in frame[ok]["formation_energy_source"].value_counts().items()}
    out["no potential"] = int((~ok).sum())
    return out
