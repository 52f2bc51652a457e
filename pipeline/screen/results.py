"""A finished screen's folder, read back: its tables, its manifest (``run.json``) and the bulk
structures of its compounds. The one reader of a screen folder, for ``semcgcnn select``,
``dissolution``, ``report`` and the active-learning loop.

A screen writes its manifest first (:func:`~.run.check_manifest`) and its six tables
(:data:`semcgcnn.schema.TABLES`) when it finishes (:meth:`~.store.PartStore.assemble`);
``semcgcnn dissolution`` adds :data:`DISSOLUTION`. A folder without what a reader needs is a
one-line :class:`~semcgcnn.errors.UserError` naming the missing files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from semcgcnn.errors import UserError

MANIFEST = "run.json"
"""The screen's manifest: its parameters and model id (written before any work)."""
DISSOLUTION = "dissolution"
"""The table ``semcgcnn dissolution`` adds to a finished screen."""


def table_path(run_dir: Path, table: str) -> Path:
    """Where the table ``table`` (a name of :data:`semcgcnn.schema.TABLES` or :data:`DISSOLUTION`)
    of the screen in ``run_dir`` lies."""
    return Path(run_dir) / f"{table}.parquet"


def has_table(run_dir: Path, table: str) -> bool:
    """Whether the screen folder ``run_dir`` holds the table ``table``."""
    return table_path(run_dir, table).is_file()


def read_manifest(run_dir: Path) -> dict:
    """The manifest of the screen in ``run_dir`` (``OSError`` when it has none)."""
    return json.loads((Path(run_dir) / MANIFEST).read_text())


def read_table(run_dir: Path, table: str, columns: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """``(table, manifest)``: one table of the finished screen in ``run_dir`` and its manifest.

    Args:
        run_dir: the screen's folder.
        table: the table's name, e.g. ``"predictions"``.
        columns: read only these columns (all when ``None``).

    Raises:
        UserError: the folder lacks the table or the manifest.
    """
    run_dir = Path(run_dir)
    path, manifest = table_path(run_dir, table), run_dir / MANIFEST
    if not path.is_file() or not manifest.is_file():
        raise UserError(f"{run_dir}: not a finished screen (needs {path.name} and {MANIFEST}; "
                        "run semcgcnn screen --out there first)")
    cols = list(columns) if columns is not None else None
    return pd.read_parquet(path, columns=cols), read_manifest(run_dir)


def read_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """The six tables of the finished screen in ``run_dir``, and :data:`DISSOLUTION` when
    ``semcgcnn dissolution`` wrote it.

    Raises:
        UserError: a table of the six is missing (all missing ones named).
    """
    from semcgcnn.schema import TABLES

    run_dir = Path(run_dir)
    missing = [t for t in TABLES if not has_table(run_dir, t)]
    if missing:
        files = ", ".join(f"{m}.parquet" for m in missing)
        raise UserError(f"{run_dir}: not a finished screen (missing {files})")
    tables = {t: pd.read_parquet(table_path(run_dir, t)) for t in TABLES}
    if has_table(run_dir, DISSOLUTION):
        tables[DISSOLUTION] = pd.read_parquet(table_path(run_dir, DISSOLUTION))
    return tables


def table_metadata(run_dir: Path, table: str) -> dict:
    """The provenance (:func:`semcgcnn.schema.provenance`) of one table of the screen in ``run_dir``."""
    from semcgcnn.schema import read_metadata

    return read_metadata(table_path(run_dir, table))


def bulk_structures(manifest: dict, compound_ids: Sequence[str]) -> dict[str, object]:
    """The bulk structures of ``compound_ids``, found again from the screen's own candidate source.

    Args:
        manifest: the screen's manifest (:func:`read_manifest`).
        compound_ids: the compounds wanted, in the order of the result.

    Raises:
        UserError: the source no longer gives the candidates, or lacks one of the compounds.
    """
    from .config import ScreenConfig
    from .run import find_candidates

    try:
        found = find_candidates(ScreenConfig.from_parameters(manifest["parameters"]))
    except UserError as exc:
        raise UserError(f"the screen's candidates cannot be read again: {exc}") from None
    bulks = {c.compound_id: c.structure for c in found.candidates}
    missing = sorted(set(compound_ids) - set(bulks))
    if missing:
        raise UserError(f"bulk structure of {', '.join(missing[:5])} no longer in the screen's source")
    return {cid: bulks[cid] for cid in compound_ids}
