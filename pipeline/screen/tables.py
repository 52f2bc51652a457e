"""The check a reader of a finished screen runs first: every table there is whole, readable
Parquet with its schema's columns, or one line names the damaged one (a copy or a disk cut
short, a file overwritten) and how to rebuild it from the run's parts."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from semcgcnn.schema import SCHEMAS, TABLES

EXTRA_TABLES = ("dissolution",)
"""Tables other commands add to a screen's folder (``semcgcnn dissolution``), checked when present."""


class DamagedTableError(ValueError):
    """A table of a finished screen that cannot be read; the message is one line naming it."""


def _damage(path: Path, name: str) -> str | None:
    """Why ``path`` is not a readable ``name`` table, or ``None``."""
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:  # pyarrow: ArrowInvalid (a ValueError), ArrowIOError (an OSError)
        return " ".join(str(exc).split()) or type(exc).__name__
    missing = [f.name for f in SCHEMAS[name] if f.name not in table.column_names]
    return f"missing column(s) {', '.join(missing)}" if missing else None


def check_tables(run_dir: Path, error: type[Exception] = DamagedTableError) -> None:
    """Check every table of the finished screen in ``run_dir`` (the six, and ``dissolution`` when
    present; a missing one is left to the reader's own message).

    Args:
        run_dir: the screen's folder.
        error: the exception class to raise (one line naming the first damaged table and how to
            rebuild it).
    """
    run_dir = Path(run_dir)
    for name in (*TABLES, *EXTRA_TABLES):
        path = run_dir / f"{name}.parquet"
        if not path.is_file():
            continue
        reason = _damage(path, name)
        if reason is None:
            continue
        if name in EXTRA_TABLES:
            fix = f"run semcgcnn {name} {run_dir} again"
        else:
            fix = "rebuild it from the run's parts: the same semcgcnn screen command with --resume"
        raise error(f"{path}: damaged table ({reason[:200]}); {fix}")
