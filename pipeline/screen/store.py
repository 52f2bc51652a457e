"""The resumable part store of a screen: finished compounds committed atomically, assembled at the end.

Each batch of finished compounds is written as one *part* folder: its tables under a temporary
name, then one atomic rename; its ``done.json`` lists its compounds. A run killed at any moment
leaves only whole parts (a half-written temporary folder is discarded on the next open), so a
resumed run skips exactly the committed compounds, and :meth:`PartStore.assemble` builds the
final tables from the parts in candidate order: no row lost or duplicated.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from semcgcnn.errors import UserError
from semcgcnn.paths import disk_full_error, is_disk_full
from semcgcnn.schema import TABLES, empty_frame, fsync_file, to_table, write_parquets

from .ranking import with_top_k

PARTS = "parts"
LOCK = ".lock"
TMP = ".tmp-"
"""Prefix of a part being written: ``.tmp-HOST-PID-RANDOM`` (the writing process)."""
FOREIGN_TMP_MAX_AGE_S = 86400.0
"""A temporary part written on another host is abandoned once this old (its process cannot be
checked from here)."""


def _abandoned(tmp: Path) -> bool:
    """Is the temporary part folder ``tmp`` left by a commit that will never finish? Yes when its
    writer was a process of this host that is gone, or of another host a day ago, or when its
    name names no writer."""
    try:
        host, pid, _ = tmp.name.removeprefix(TMP).rsplit("-", 2)
        pid_n = int(pid)
    except ValueError:
        return True
    if host != socket.gethostname():
        try:
            return time.time() - tmp.stat().st_mtime > FOREIGN_TMP_MAX_AGE_S
        except OSError:
            return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class FolderLockedError(UserError):
    """Another process holds the screen folder; the message names it and says to run again with
    ``--resume`` once it is done."""


def _read_holder(fh: IO[str], wait_s: float = 2.0) -> str:
    """The holder line of a held lock. A run that has just taken the lock writes its line a moment
    later, so an empty file is re-read for up to ``wait_s`` before falling back to a generic name."""
    deadline = time.monotonic() + wait_s
    while True:
        fh.seek(0)
        holder = fh.read().strip()
        if holder or time.monotonic() > deadline:
            return holder or "another process"
        time.sleep(0.02)


class RunLock:
    """An exclusive lock on a screen folder for the life of one run (``fcntl.flock`` on
    ``out/.lock``, which records the holder). The kernel drops it when the holder exits, even on
    ``kill -9``, so a stale lock cannot block a later ``--resume``."""

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK
        self._fh = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for the whole run
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fh)
            fh.close()
            raise FolderLockedError(
                f"{self.path.parent} is in use by {holder}; wait for it to finish "
                "(or stop it), then run again with --resume"
            ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(
                f"pid {os.getpid()} on {socket.gethostname()} since "
                f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}"
            )
            fh.flush()
        except OSError as exc:
            try:
                fh.close()  # the lock goes with the file
            except OSError:
                pass
            if is_disk_full(exc):
                raise disk_full_error(self.path) from None
            raise
        self._fh = fh
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.truncate(0)  # no stale holder line for the next run's refusal message
            self._fh.flush()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


ERROR_STAGES = ("candidates", "slabs", "predictions", "wulff")
"""Error rows are ordered by stage, then by candidate order."""


def _frame(name: str, df: pd.DataFrame) -> pd.DataFrame:
    return empty_frame(name) if df.empty else df


class PartStore:
    """Committed parts of one screen under ``out/parts``."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.root = self.out / PARTS

    def commit(self, tables: dict[str, pd.DataFrame], compound_ids: list[str]) -> Path:
        """Write one batch as a part folder: temporary name first, files flushed to disk, then one
        atomic rename. A full disk removes the temporary folder and raises
        :class:`~semcgcnn.paths.DiskFullError`."""
        tmp = self.root / f"{TMP}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}"
        try:
            tmp.mkdir(parents=True)
            for name in TABLES:
                path = tmp / f"{name}.parquet"
                pq.write_table(to_table(name, _frame(name, tables.get(name, pd.DataFrame()))), path)
                fsync_file(path)
            (tmp / "done.json").write_text(json.dumps(compound_ids))
            fsync_file(tmp / "done.json")
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if is_disk_full(exc):
                raise disk_full_error(self.root) from None
            raise
        final = self.root / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        os.replace(tmp, final)
        return final

    def parts(self) -> list[Path]:
        """Committed part folders, oldest first; the temporary folders of commits whose writer
        died are removed (:func:`_abandoned`), those still being written are left alone (other
        batch jobs may be committing into the same screen at this moment)."""
        if not self.root.is_dir():
            return []
        for tmp in self.root.glob(f"{TMP}*"):
            if _abandoned(tmp):
                shutil.rmtree(tmp, ignore_errors=True)
        return sorted(p for p in self.root.glob("part-*") if (p / "done.json").exists())

    def done(self) -> set[str]:
        """Compound ids of every committed part."""
        return {cid for p in self.parts() for cid in json.loads((p / "done.json").read_text())}

    def assemble(self, order: dict[str, int], candidate_errors: list[dict], meta: dict) -> dict[str, Path]:
        """Final tables ``out/<name>.parquet`` from all parts, sorted by candidate order (errors:
        by stage, then candidate order), with ``meta`` as provenance: all six committed together
        or none (:func:`~semcgcnn.schema.write_parquets`; a full disk raises
        :class:`~semcgcnn.paths.DiskFullError` and leaves the parts for ``--resume``)."""
        parts = self.parts()
        fresh = _first_commits(parts)
        tables = {}
        for name in TABLES:
            frames = [_only(name, pq.read_table(p / f"{name}.parquet").to_pandas(), fresh[p]) for p in parts]
            if name == "errors":
                frames.insert(0, _frame("errors", pd.DataFrame(candidate_errors)))
            frames = [f for f in frames if not f.empty]
            df = pd.concat(frames, ignore_index=True) if frames else empty_frame(name)
            df = _in_order(name, df, order).reset_index(drop=True)
            if name == "wulff":  # ranks need every compound: known only once all parts are in
                df = with_top_k(df)
            tables[self.out / f"{name}.parquet"] = to_table(name, df)
        write_parquets(tables, meta)
        return {path.stem: path for path in tables}


def _first_commits(parts: list[Path]) -> dict[Path, set[str] | None]:
    """Per part, the compounds it is the first to commit (``None``: all of its own). A compound
    committed twice (e.g. by two runs before the folder lock existed) counts once, from its
    earliest part, so assembling never duplicates rows."""
    seen: set[str] = set()
    out: dict[Path, set[str] | None] = {}
    for p in parts:
        ids = set(json.loads((p / "done.json").read_text()))
        out[p] = None if not ids & seen else ids - seen
        seen |= ids
    return out


def _only(name: str, df: pd.DataFrame, compounds: set[str] | None) -> pd.DataFrame:
    """The rows of ``df`` that belong to ``compounds`` (``None``: all rows)."""
    if compounds is None or df.empty:
        return df
    if "compound_id" in df.columns:
        return df[df["compound_id"].isin(compounds)]
    # error rows: keyed by compound id, or by slab id ("<compound>_h_k_l_t<i>") for predictions
    owner = df["id"].map(
        lambda i: i if i in compounds else next((c for c in compounds if i.startswith(f"{c}_")), None)
    )
    return df[owner.notna()]


def _in_order(name: str, df: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    if df.empty:
        return df
    if "compound_id" in df.columns:
        return df.iloc[np.argsort(df["compound_id"].map(order).to_numpy(), kind="stable")]
    if name == "errors":
        rank = df["id"].map(order).fillna(-1).to_numpy()
        stage = (
            df["stage"].map({s: i for i, s in enumerate(ERROR_STAGES)}).fillna(len(ERROR_STAGES)).to_numpy()
        )
        return df.iloc[np.lexsort((rank, stage))]
    return df
