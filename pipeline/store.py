"""The resumable part store of a screen: finished compounds committed atomically, assembled at the end.

Each batch of finished compounds is written as one *part* folder: its tables under a temporary
name, then one atomic rename; its ``done.json`` lists its compounds. A run killed at any moment
leaves only whole parts (a half-written temporary folder is discarded on the next open), so a
resumed run skips exactly the committed compounds, and :meth:`PartStore.assemble` builds the
final tables from the parts in candidate order: no row lost or duplicated.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from semcgcnn.schema import SCHEMAS, TABLES, to_table, write_parquet

PARTS = "parts"
ERROR_STAGES = ("candidates", "slabs", "predictions", "wulff")
"""Error rows are ordered by stage, then by candidate order."""


def empty_frame(name: str) -> pd.DataFrame:
    """A table with the named schema's columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in SCHEMAS[name].names})


def _frame(name: str, df: pd.DataFrame) -> pd.DataFrame:
    return empty_frame(name) if df.empty else df


class PartStore:
    """Committed parts of one screen under ``out/parts``."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.root = self.out / PARTS

    def commit(self, tables: dict[str, pd.DataFrame], compound_ids: list[str]) -> Path:
        """Write one batch as a part folder: temporary name first, then one atomic rename."""
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir(parents=True)
        for name in TABLES:
            pq.write_table(to_table(name, _frame(name, tables.get(name, pd.DataFrame()))), tmp / f"{name}.parquet")
        (tmp / "done.json").write_text(json.dumps(compound_ids))
        final = self.root / f"part-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        os.replace(tmp, final)
        return final

    def parts(self) -> list[Path]:
        """Committed part folders, oldest first; half-written temporary ones are removed."""
        if not self.root.is_dir():
            return []
        for tmp in self.root.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
        return sorted(p for p in self.root.glob("part-*") if (p / "done.json").exists())

    def done(self) -> set[str]:
        """Compound ids of every committed part."""
        return {cid for p in self.parts() for cid in json.loads((p / "done.json").read_text())}

    def assemble(self, order: dict[str, int], candidate_errors: list[dict], meta: dict) -> dict[str, Path]:
        """Final tables ``out/<name>.parquet`` from all parts, sorted by candidate order (errors:
        by stage, then candidate order), each written atomically with ``meta`` as provenance."""
        parts = self.parts()
        paths = {}
        for name in TABLES:
            frames = [pq.read_table(p / f"{name}.parquet").to_pandas() for p in parts]
            if name == "errors":
                frames.insert(0, _frame("errors", pd.DataFrame(candidate_errors)))
            frames = [f for f in frames if not f.empty]
            df = pd.concat(frames, ignore_index=True) if frames else empty_frame(name)
            path = self.out / f"{name}.parquet"
            write_parquet(path, to_table(name, _in_order(name, df, order).reset_index(drop=True)), meta)
            paths[name] = path
        return paths


def _in_order(name: str, df: pd.DataFrame, order: dict[str, int]) -> pd.DataFrame:
    if df.empty:
        return df
    if "compound_id" in df.columns:
        return df.iloc[np.argsort(df["compound_id"].map(order).to_numpy(), kind="stable")]
    if name == "errors":
        rank = df["id"].map(order).fillna(-1).to_numpy()
        stage = df["stage"].map({s: i for i, s in enumerate(ERROR_STAGES)}).fillna(len(ERROR_STAGES)).to_numpy()
        return df.iloc[np.lexsort((rank, stage))]
    return df
