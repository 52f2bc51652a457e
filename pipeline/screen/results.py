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


EXTRA_TABLES = (DISSOLUTION,)
"""Tables other commands add to a screen's folder (``semcgcnn dissolution``), checked when present."""


class DamagedTableError(UserError):
    """A table of a finished screen that cannot be read; the message is one line naming it."""


def _damage(path: Path, name: str) -> str | None:
    """Why ``path`` is not a readable ``name`` table, or ``None``: its footer (schema) is read, not
    its data, so the check costs milliseconds; a damaged data page is caught where it is read."""
    import pyarrow.parquet as pq

    try:
        columns = pq.read_schema(path).names
    except (OSError, ValueError) as exc:  # pyarrow: ArrowInvalid (a ValueError), ArrowIOError (an OSError)
        return " ".join(str(exc).split()) or type(exc).__name__
    from semcgcnn.schema import SCHEMAS

    missing = [f.name for f in SCHEMAS[name] if f.name not in columns]
    return f"missing column(s) {', '.join(missing)}" if missing else None


def _damaged(path: Path, name: str, reason: str) -> DamagedTableError:
    """The one-line error for the damaged table ``name`` at ``path``, with how to rebuild it."""
    if name in EXTRA_TABLES:
        fix = f"run semcgcnn {name} {path.parent} again"
    else:
        fix = "rebuild it from the run's parts: the same semcgcnn screen command with --resume"
    return DamagedTableError(f"{path}: damaged table ({reason[:200]}); {fix}")


def check_tables(run_dir: Path) -> None:
    """Check every table of the finished screen in ``run_dir`` (the six, and ``dissolution`` when
    present; a missing one is left to the reader's own message): each is Parquet whose footer reads
    and whose schema has its columns (a copy or a disk cut short, a file overwritten has not).

    Args:
        run_dir: the screen's folder.

    Raises:
        DamagedTableError: one line naming the first damaged table and how to rebuild it.
    """
    from semcgcnn.schema import TABLES

    run_dir = Path(run_dir)
    for name in (*TABLES, *EXTRA_TABLES):
        path = table_path(run_dir, name)
        if path.is_file() and (reason := _damage(path, name)) is not None:
            raise _damaged(path, name, reason)


def _read(run_dir: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Table ``name`` of ``run_dir`` as a DataFrame; a data page that cannot be read is one line."""
    path = table_path(run_dir, name)
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError) as exc:
        raise _damaged(path, name, " ".join(str(exc).split()) or type(exc).__name__) from None


def read_table(run_dir: Path, table: str, columns: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """``(table, manifest)``: one table of the finished screen in ``run_dir`` and its manifest.

    Args:
        run_dir: the screen's folder.
        table: the table's name, e.g. ``"predictions"``.
        columns: read only these columns (all when ``None``).

    Raises:
        UserError: the folder lacks the table or the manifest.
        DamagedTableError: a table there cannot be read.
    """
    run_dir = Path(run_dir)
    path, manifest = table_path(run_dir, table), run_dir / MANIFEST
    if not path.is_file() or not manifest.is_file():
        raise UserError(
            f"{run_dir}: not a finished screen (needs {path.name} and {MANIFEST}; "
            "run semcgcnn screen --out there first)"
        )
    check_tables(run_dir)
    cols = list(columns) if columns is not None else None
    return _read(run_dir, table, cols), read_manifest(run_dir)


def read_tables(run_dir: Path) -> dict[str, pd.DataFrame]:
    """The six tables of the finished screen in ``run_dir``, and :data:`DISSOLUTION` when
    ``semcgcnn dissolution`` wrote it.

    Raises:
        UserError: a table of the six is missing (all missing ones named).
        DamagedTableError: a table there cannot be read.
    """
    from semcgcnn.schema import TABLES

    run_dir = Path(run_dir)
    missing = [t for t in TABLES if not has_table(run_dir, t)]
    if missing:
        files = ", ".join(f"{m}.parquet" for m in missing)
        raise UserError(f"{run_dir}: not a finished screen (missing {files})")
    check_tables(run_dir)
    tables = {t: _read(run_dir, t) for t in TABLES}
    if has_table(run_dir, DISSOLUTION):
        tables[DISSOLUTION] = _read(run_dir, DISSOLUTION)
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
