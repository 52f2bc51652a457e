"""``semcgcnn dissolution RUN_DIR``: the dissolution equilibrium potential of every compound of a
finished screen, written as ``RUN_DIR/dissolution.parquet`` (schema ``dissolution``).

That file is also the cache of ``semcgcnn report`` (:func:`dissolution_table`): its provenance
records what the values depend on (:func:`cache_key`: the screen's compound ids and bulk cells,
the ML potential, the conditions), and a table whose key is not the screen's is computed again.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.errors import UserError
from semcgcnn.pipeline.screen import results
from semcgcnn.progress import QUIET, Bars

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


def potential_name() -> str:
    """The ML potential behind the ``mlip`` formation energies (and the ``mp`` source's fallback),
    as the table's provenance records it, e.g. ``SevenNet 7net-0 (11Jul2024, MPtrj, PBE(+U))``."""
    from semcgcnn.pipeline.labelling.mlip import DEFAULT_MLIP, MLIP_MODELS

    return f"{DEFAULT_MLIP} {MLIP_MODELS[DEFAULT_MLIP]['model']}"


def cache_key(ids: Sequence[str], bulks: Mapping[str, object], cond: Conditions = DEFAULT_CONDITIONS) -> dict:
    """What a dissolution table's values depend on: the compounds (``ids``, in table order), their
    bulk cells (``bulks`` by id: lattice, species and fractional coordinates to 1e-6, so another
    screen whose compounds share the ids does not match), the ML potential and the conditions."""
    h = hashlib.sha256()
    for cid in ids:
        s = bulks[cid]
        h.update(cid.encode() + b"\0" + " ".join(site.species_string for site in s).encode())
        h.update(np.round(s.lattice.matrix, 6).tobytes() + np.round(s.frac_coords, 6).tobytes())
    return {
        "compound_ids": list(ids),
        "bulk_sha256": h.hexdigest(),
        "potential": potential_name(),
        "conditions": asdict(cond),
    }


KEY_WORDS = {
    "compound_ids": "compounds",
    "bulk_sha256": "bulk cells",
    "potential": "ML potential",
    "conditions": "conditions",
}
"""The :func:`cache_key` fields, as a log line names them."""


def _screen_key(run_dir: Path, cond: Conditions, with_bulks: bool = True) -> dict:
    """The :func:`cache_key` of the screen in ``run_dir`` (without ``bulk_sha256``: ``with_bulks`` False)."""
    compounds, manifest = results.read_table(run_dir, "compounds", columns=["compound_id"])
    ids = list(compounds["compound_id"])
    if not with_bulks:
        return {"compound_ids": ids, "potential": potential_name(), "conditions": asdict(cond)}
    return cache_key(ids, results.bulk_structures(manifest, ids), cond)


def write_dissolution(
    run_dir: Path, frame: pd.DataFrame, source: str, cond: Conditions = DEFAULT_CONDITIONS
) -> Path:
    """``run_dir/dissolution.parquet`` with its provenance, the :func:`cache_key` of the screen included."""
    from semcgcnn.schema import provenance, to_table, write_parquet

    _, manifest = results.read_table(run_dir, "compounds")
    path = results.table_path(run_dir, results.DISSOLUTION)
    meta = provenance(
        manifest.get("model_id", ""),
        "semcgcnn dissolution",
        {
            "source": source,
            **_screen_key(run_dir, cond),
            "ion_table": "reference_tables/"
            "aqueous_ion_formation_energies.csv (GNscSHI/GalvCalc ion_energy.yaml)",
        },
    )
    write_parquet(path, to_table("dissolution", frame), meta)
    return path


def read_cached(run_dir: Path, cond: Conditions = DEFAULT_CONDITIONS) -> pd.DataFrame | None:
    """``run_dir/dissolution.parquet`` when its provenance's key is the screen's :func:`cache_key`
    (same compounds and bulk cells, same ML potential, same conditions); ``None`` when there is no
    such table or it was computed for something else (a log line says what differs)."""
    run_dir = Path(run_dir)
    if not results.has_table(run_dir, results.DISSOLUTION):
        return None
    recorded = results.table_metadata(run_dir, results.DISSOLUTION).get("parameters", {})
    try:
        key = _screen_key(run_dir, cond)
    except UserError as exc:  # e.g. an `mp` screen read without MP_API_KEY: the rest of the key still holds
        log.info("bulk cells of the screen not checked against the dissolution table: %s", exc)
        key = _screen_key(run_dir, cond, with_bulks=False)
    stale = [KEY_WORDS[k] for k in key if recorded.get(k) != key[k]]
    if stale:
        log.info(
            "%s is not this screen's (%s: other or not recorded); computing it again",
            results.table_path(run_dir, results.DISSOLUTION),
            ", ".join(stale),
        )
        return None
    return results.read_table(run_dir, results.DISSOLUTION)[0]


def dissolution_table(
    run_dir: Path, source: str = "auto", cond: Conditions = DEFAULT_CONDITIONS, progress: Bars = QUIET
) -> tuple[pd.DataFrame, str]:
    """``(table, how)``: the screen's dissolution table from ``run_dir/dissolution.parquet`` when that
    is the screen's (:func:`read_cached`), else computed from ``source`` (one ``progress`` bar over
    the compounds) and written there, so the next call reads it; ``how`` says which, in words.

    Raises:
        UserError: as :func:`dissolution_frame` (nothing is written then).
    """
    cached = read_cached(run_dir, cond)
    if cached is not None:
        return cached, f"read from {results.DISSOLUTION}.parquet"
    src = resolve_source(source)
    n = len(results.read_table(run_dir, "compounds", columns=["compound_id"])[0])
    frame = dissolution_frame(run_dir, src, cond, advance=progress.stage("formation energies", n))
    write_dissolution(run_dir, frame, src, cond)
    return frame, f"computed now (source {src}), kept in {results.DISSOLUTION}.parquet"


def summary(frame: pd.DataFrame) -> dict[str, int]:
    """Rows with a potential per formation-energy source, and rows without one."""
    ok = frame["equilibrium_potential_V_SHE"].map(lambda v: math.isfinite(v))
    out = {str(k): int(v) for k, v in frame[ok]["formation_energy_source"].value_counts().items()}
    out["no potential"] = int((~ok).sum())
    return out
