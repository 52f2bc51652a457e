"""The one schema module of every Parquet table sem-cgcnn writes (the screen's six tables and
``semcgcnn predict``'s two): Arrow schemas, units in column names, provenance. It sits in the
utility layer so that both ``model`` (predict output) and ``pipeline`` (screen tables) use it.

Every table is plain columns (strings, integers, floats, booleans) so that pandas, polars and
DuckDB read the files as they are. Provenance lives in the Parquet file metadata under the key
``semcgcnn``: a JSON object with the package version, model id, candidate source, parameters and
the UTC time of writing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

METADATA_KEY = b"semcgcnn"

_MILLER = [
    ("miller_h", pa.int32()),
    ("miller_k", pa.int32()),
    ("miller_l", pa.int32()),
    ("miller_index", pa.string()),
]
_DOMAIN = [("unseen_elements", pa.string()), ("out_of_domain", pa.bool_()), ("applicability", pa.string())]
# an ensemble's calibrated 1σ uncertainty of a prediction (NaN from a single model)
_STD = [("surface_energy_eV_per_A2_std", pa.float64()), ("work_function_eV_std", pa.float64())]
# how far a slab lies from the model's training slabs in its own representation, relative to a
# typical training slab's distance to the others (1: as near as training data; NaN without a reference)
_DISTANCE = [("distance_to_training", pa.float64())]
# the bulk's energy above the convex hull, eV/atom, and where it comes from: "7net-0 estimate" (the
# bundled candidates, semcgcnn.pipeline.screen.stability), "Materials Project", or "" with NaN (unknown)
_HULL = [("e_above_hull_eV_per_atom", pa.float64()), ("e_above_hull_source", pa.string())]

SCHEMAS: dict[str, pa.Schema] = {
    # one row per candidate bulk compound that entered the slab stage
    "compounds": pa.schema(
        [
            ("compound_id", pa.string()),
            ("formula", pa.string()),
            ("reduced_formula", pa.string()),
            ("chemsys", pa.string()),
            ("X_element", pa.string()),
            ("X_category", pa.string()),
            # intermetallic, semiconductor/Zintl or ionic, from X (semcgcnn.pipeline.screen.compound_class)
            ("compound_class", pa.string()),
            ("source", pa.string()),
            ("n_atoms_bulk", pa.int32()),
            ("Mg_fraction", pa.float64()),
            ("spacegroup_symbol", pa.string()),
            ("spacegroup_number", pa.int32()),
            ("n_miller", pa.int32()),
            ("n_slabs", pa.int32()),
            ("n_slabs_lost", pa.int32()),
            ("n_slabs_asymmetric", pa.int32()),
            ("compound_in_domain", pa.bool_()),
            ("domain_reason", pa.string()),
            *_HULL,
        ]
    ),
    # one row per slab; the structure as a pymatgen JSON string. Symmetric slabs, plus (symmetric
    # False) the asymmetric slab of each termination along a polar direction, where no symmetric
    # slab can exist; asymmetry_note says why in words
    "slabs": pa.schema(
        [
            ("slab_id", pa.string()),
            ("compound_id", pa.string()),
            *_MILLER,
            ("shift_frac", pa.float64()),
            ("termination_index", pa.int32()),
            ("n_atoms", pa.int32()),
            ("formula", pa.string()),
            ("stoichiometric", pa.bool_()),
            ("slab_thickness_A", pa.float64()),
            ("vacuum_A", pa.float64()),
            ("surface_area_A2", pa.float64()),
            ("min_slab_size_A", pa.float64()),
            ("symmetric", pa.bool_()),
            ("asymmetry_note", pa.string()),
            ("structure_json", pa.string()),
        ]
    ),
    # one row per slab: model predictions and whether the slab gives its facet's lowest energy
    "predictions": pa.schema(
        [
            ("slab_id", pa.string()),
            ("compound_id", pa.string()),
            *_MILLER,
            ("termination_index", pa.int32()),
            ("symmetric_slab", pa.bool_()),
            ("surface_energy_eV_per_A2", pa.float64()),
            ("surface_energy_J_per_m2", pa.float64()),
            ("work_function_eV", pa.float64()),
            *_STD,
            *_DISTANCE,
            ("model_id", pa.string()),
            *_DOMAIN,
            ("is_facet_minimum", pa.bool_()),
        ]
    ),
    # one row per compound and facet (Miller index): the facet's lowest-energy slab (a symmetric one
    # where the facet has any; else its asymmetric polar slab, γ the mean of two faces) and its Wulff area
    "facets": pa.schema(
        [
            ("compound_id", pa.string()),
            *_MILLER,
            ("slab_id", pa.string()),
            ("from_symmetric_slab", pa.bool_()),
            ("surface_energy_eV_per_A2", pa.float64()),
            ("surface_energy_J_per_m2", pa.float64()),
            ("work_function_eV", pa.float64()),
            ("area_fraction", pa.float64()),
            ("on_wulff_shape", pa.bool_()),
        ]
    ),
    # one row per compound: Wulff-weighted properties, and how far to trust them. Trusted ("trusted"
    # in `trust`, otherwise its reasons joined by "; "): a shape; compound and dominant facet's
    # prediction in domain, from a symmetric slab; ≥ 2 facet families on the shape; weighted γ and Φ
    # inside the 1st–99th percentile of the shipped Mg–X training labels (γ 0.285–2.82 J/m², Φ 2.58–5.22 eV;
    # semcgcnn.model.applicability.training_label_range); not more than 0.1 eV/atom above the hull where
    # that is known (semcgcnn.pipeline.screen.stability). Rows without a shape are never trusted.
    # X_element, compound_class and spacegroup_symbol as in `compounds` (polymorphs told apart without a join)
    "wulff": pa.schema(
        [
            ("compound_id", pa.string()),
            ("formula", pa.string()),
            ("X_element", pa.string()),
            ("compound_class", pa.string()),
            ("spacegroup_symbol", pa.string()),
            *_HULL,
            ("n_facets", pa.int32()),
            ("n_facets_on_shape", pa.int32()),
            ("n_asymmetric_facets_on_shape", pa.int32()),
            ("weighted_surface_energy_eV_per_A2", pa.float64()),
            ("weighted_surface_energy_J_per_m2", pa.float64()),
            ("weighted_work_function_eV", pa.float64()),
            ("weighted_surface_energy_eV_per_A2_std", pa.float64()),
            ("weighted_surface_energy_J_per_m2_std", pa.float64()),
            ("weighted_work_function_eV_std", pa.float64()),
            ("shape_factor", pa.float64()),
            ("anisotropy", pa.float64()),
            ("dominant_facet", pa.string()),
            ("dominant_area_fraction", pa.float64()),
            ("compound_in_domain", pa.bool_()),
            ("domain_reason", pa.string()),
            ("model_id", pa.string()),
            ("dominant_facet_in_domain", pa.bool_()),
            ("dominant_facet_symmetric", pa.bool_()),
            ("weighted_surface_energy_in_label_range", pa.bool_()),
            ("weighted_work_function_in_label_range", pa.bool_()),
            ("trust", pa.string()),
            # probability of being among the top 10 of each ranking of the trusted intermetallic rows
            # (NaN for the others, or without a 1σ): semcgcnn.pipeline.screen.ranking
            ("p_top10_lowest_work_function", pa.float64()),
            ("p_top10_highest_work_function", pa.float64()),
            ("p_top10_lowest_surface_energy", pa.float64()),
        ]
    ),
    # `semcgcnn dissolution`: one row per screened compound, the equilibrium potential of its anodic
    # dissolution (semcgcnn.pipeline.analysis.dissolution); NaN with the reason where none can be computed
    "dissolution": pa.schema(
        [
            ("compound_id", pa.string()),
            ("formula", pa.string()),
            ("formation_energy_eV_per_atom", pa.float64()),
            ("formation_energy_source", pa.string()),
            ("equilibrium_potential_V_SHE", pa.float64()),
            ("electrons_per_formula_unit", pa.float64()),
            ("dissolved_species", pa.string()),
            ("reaction", pa.string()),
            ("pH", pa.float64()),
            ("concentration_mol_per_L", pa.float64()),
            ("reason", pa.string()),
        ]
    ),
    # anything that failed, with its stage and reason; the run still completes
    "errors": pa.schema([("stage", pa.string()), ("id", pa.string()), ("reason", pa.string())]),
    # `semcgcnn predict` on user slab files: one row per file predicted, one per file refused.
    # symmetric_slab as in `predictions` (False: the two faces differ, the screen's test); verdict:
    # "in domain", else the out-of-domain applicability and/or "asymmetric slab (...)", "; "-joined
    "file_predictions": pa.schema(
        [
            ("structure_id", pa.string()),
            ("path", pa.string()),
            ("symmetric_slab", pa.bool_()),
            ("surface_energy_eV_per_A2", pa.float64()),
            ("surface_energy_J_per_m2", pa.float64()),
            ("work_function_eV", pa.float64()),
            *_STD,
            *_DISTANCE,
            ("model_id", pa.string()),
            *_DOMAIN,
            ("verdict", pa.string()),
        ]
    ),
    "file_errors": pa.schema([("path", pa.string()), ("structure_id", pa.string()), ("reason", pa.string())]),
    # `semcgcnn label`: one row per labelled slab (DFT or ML potential), the unrelaxed slab as the
    # training data holds it (structure_json, pymatgen JSON), so `--extra-labels` trains on it as it
    # is. γ by chemical_potential_convention (μ per atom in chemical_potentials_json); the work
    # function of each face (NaN where the backend has no electrons: work_function_available False)
    "labels": pa.schema(
        [
            ("structure_id", pa.string()),
            ("bulk_id", pa.string()),
            ("bulk_formula", pa.string()),
            ("formula", pa.string()),
            ("chemsys", pa.string()),
            *_MILLER,
            ("termination_index", pa.int32()),
            ("shift_frac", pa.float64()),
            ("n_atoms", pa.int32()),
            ("stoichiometric", pa.bool_()),
            ("symmetric", pa.bool_()),
            ("surface_area_A2", pa.float64()),
            ("surface_energy_eV_per_A2", pa.float64()),
            ("surface_energy_J_per_m2", pa.float64()),
            ("work_function_eV", pa.float64()),
            ("work_function_bottom_eV", pa.float64()),
            ("work_function_top_eV", pa.float64()),
            ("work_function_available", pa.bool_()),
            ("chemical_potential_convention", pa.string()),
            ("chemical_potentials_json", pa.string()),
            ("backend", pa.string()),
            ("preset", pa.string()),
            ("method", pa.string()),
            ("code_version", pa.string()),
            ("settings_json", pa.string()),
            ("slab_relaxed", pa.bool_()),
            ("bulk_relaxed", pa.bool_()),
            ("n_ionic_steps", pa.int32()),
            ("wall_s", pa.float64()),
            ("structure_json", pa.string()),
        ]
    ),
}

TABLES: tuple[str, ...] = ("compounds", "slabs", "predictions", "facets", "wulff", "errors")
"""The tables of a screen (``semcgcnn screen``), in the order they are written."""


def empty_frame(name: str) -> pd.DataFrame:
    """A table with the named schema's columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SCHEMAS[name].names})


def to_table(name: str, rows: pd.DataFrame | Sequence[dict]) -> pa.Table:
    """Rows (a DataFrame or dicts) as an Arrow table of the named schema (columns checked)."""
    schema = SCHEMAS[name]
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=schema.names)
    missing = [c for c in schema.names if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}")
    return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)


def provenance(model_id: str, source: str, parameters: dict) -> dict:
    """The metadata written into every table."""
    from semcgcnn import __version__
    from semcgcnn.units import EV_PER_A2_TO_J_PER_M2, UNITS

    gamma = UNITS["surface_energy"]
    return {
        "package": "sem-cgcnn",
        "package_version": __version__,
        "model_id": model_id,
        "source": source,
        "parameters": parameters,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "units": {
            "surface_energy": f"{gamma} (and J/m², 1 {gamma} = {EV_PER_A2_TO_J_PER_M2} J/m²)",
            "work_function": UNITS["work_function"],
            "lengths": "Å",
            "areas": "Å²",
        },
    }


def write_parquet(path: Path, table: pa.Table, meta: dict | None = None) -> None:
    """Write atomically (:func:`write_parquets`); ``meta`` goes into the file metadata."""
    write_parquets({path: table}, meta)


def fsync_file(path: Path) -> None:
    """Flush a written file's data to its device."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_parquets(tables: dict[Path, pa.Table], meta: dict | None = None) -> None:
    """Commit several tables together or not at all: each is written to a temporary file in its
    own folder and flushed to disk, then all are renamed into place; if any write fails, the
    temporaries are removed and no table is replaced. ``meta`` goes into every file's metadata.
    A full disk raises :class:`~semcgcnn.paths.DiskFullError` (one line: path, free space)."""
    from semcgcnn.paths import disk_full_error, is_disk_full

    temps = {path: path.with_name(f".{path.name}.{os.getpid()}.tmp") for path in tables}
    try:
        for path, table in tables.items():
            if meta is not None:
                table = table.replace_schema_metadata(
                    {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()}
                )
            try:
                pq.write_table(table, temps[path], compression="zstd")
                fsync_file(temps[path])
            except OSError as exc:
                if is_disk_full(exc):
                    for tmp in temps.values():
                        tmp.unlink(missing_ok=True)
                    raise disk_full_error(path) from None
                raise
        for path, tmp in temps.items():
            os.replace(tmp, path)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def read_metadata(path: Path) -> dict:
    """The provenance stored in a table written by :func:`write_parquet`."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[METADATA_KEY]) if METADATA_KEY in meta else {}
