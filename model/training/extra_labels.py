"""New DFT labels (``labels.parquet``, written by ``semcgcnn label``) as training rows.

:func:`load_extra_labels` reads one or more labels tables, checks them (a missing file, a table
without the required columns, a row whose structure JSON does not parse or whose slab is not a
valid structure are one-line :class:`ExtraLabelsError`\\ s naming the file and row; nothing is
dropped silently), featurizes the *unrelaxed* slabs (``structure_json``, what the network takes)
with the model's :class:`~semcgcnn.model.config.GraphConfig`, and returns graphs, targets and a
row table shaped like :func:`~semcgcnn.model.training.data.load_slab_tensors`'s (``source`` =
``"extra_labels"``, ``structure_id``, ``chemsys``), so the rows can join a training set
(:func:`~semcgcnn.model.training.data.load_slab_tensors` ``extra=``) or fine-tune a checkpoint
(:mod:`semcgcnn.model.training.finetune`).

Rows without a finite surface energy (a failed calculation) are excluded and reported (count and
reason, logged and kept in :attr:`ExtraLabels.files`). The work function is masked (NaN, left out
of the loss as for the elemental and Palizhati slabs without one) where
``work_function_available`` is false or the value is not finite, e.g. ML-potential labels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from semcgcnn.errors import UserError
from semcgcnn.model.config import GraphConfig
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.graphs import GraphSet

if TYPE_CHECKING:
    import pyarrow as pa
    from pymatgen.core import Structure

    from semcgcnn.datasets import Record

log = logging.getLogger(__name__)

SOURCE = "extra_labels"
"""The ``source`` of extra-label rows in a training row table."""

SE_COLUMN, WF_COLUMN = "surface_energy_eV_per_A2", "work_function_eV"
REQUIRED_COLUMNS = ("structure_id", "chemsys", SE_COLUMN, WF_COLUMN, "structure_json")
"""What a labels table needs to train on (``semcgcnn.schema.SCHEMAS["labels"]`` has more)."""


class ExtraLabelsError(UserError):
    """A labels table that cannot be used for training (one line: file, row, problem)."""


@dataclass
class ExtraLabels:
    """Featurized labels: ``graphs`` and ``y`` (n, 2: surface energy, work function; NaN where
    masked) in the order of ``frame`` (``source``, ``structure_id``, ``chemsys``); ``files``: one
    record per table read (``name``, ``sha256``, ``rows`` used, ``excluded`` reason → count,
    ``work_function_masked``), what a checkpoint card records."""

    graphs: GraphSet
    y: np.ndarray
    frame: pd.DataFrame
    files: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)

    def tensors(self, descriptors: np.ndarray | None = None) -> GraphTensors:
        """Training tensors of these rows (``descriptors``: the model's element table, if any)."""
        return GraphTensors(self.graphs, self.y, descriptors=descriptors)

    def card(self) -> list[dict]:
        """What a checkpoint card records of these labels."""
        return [dict(f) for f in self.files]


def read_labels_table(path: Path) -> tuple[pd.DataFrame, dict]:
    """The usable rows of one labels table (required columns, targets with the work function
    masked where unavailable) and its record (name, sha256, rows, exclusions)."""
    import hashlib

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise ExtraLabelsError(f"{path}: labels file not found")
    try:
        df = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as e:
        raise ExtraLabelsError(
            f"{path}: not a readable Parquet labels table ({str(e).splitlines()[0]})"
        ) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ExtraLabelsError(
            f"{path}: not a labels table: missing column(s) {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED_COLUMNS)}; see semcgcnn.schema.SCHEMAS['labels'])"
        )
    if df.empty:
        raise ExtraLabelsError(f"{path}: the labels table has no rows")
    ids = df["structure_id"]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        raise ExtraLabelsError(
            f"{path}: row {int(np.flatnonzero(ids.isna() | (ids.astype(str).str.strip() == ''))[0])} "
            "has no structure_id"
        )
    dup = ids[ids.duplicated()]
    if len(dup):
        raise ExtraLabelsError(
            f"{path}: structure_id {dup.iloc[0]!r} appears more than once (one row per slab)"
        )
    se = pd.to_numeric(df[SE_COLUMN], errors="coerce").to_numpy(float)
    wf = pd.to_numeric(df[WF_COLUMN], errors="coerce").to_numpy(float)
    available = (
        df["work_function_available"].fillna(False).astype(bool).to_numpy()
        if "work_function_available" in df
        else np.ones(len(df), bool)
    )
    wf_ok = available & np.isfinite(wf)
    keep = np.isfinite(se)
    excluded = {"surface energy not finite": int((~keep).sum())} if (~keep).any() else {}
    if excluded:
        log.warning(
            "%s: %d of %d rows excluded: %s (e.g. %s)",
            path.name,
            int((~keep).sum()),
            len(df),
            "surface energy not finite",
            ", ".join(map(str, ids[~keep].head(3))),
        )
    n_masked = int((keep & ~wf_ok).sum())
    if n_masked:
        log.info(
            "%s: work function masked (unavailable or not finite) on %d of %d rows",
            path.name,
            n_masked,
            int(keep.sum()),
        )
    out = pd.DataFrame(
        {
            "structure_id": ids.astype(str).to_numpy()[keep],
            "chemsys": df["chemsys"].to_numpy(object)[keep],
            "structure_json": df["structure_json"].to_numpy(object)[keep],
            "row": np.flatnonzero(keep),
            SE_COLUMN: se[keep],
            WF_COLUMN: np.where(wf_ok, wf, np.nan)[keep],
        }
    )
    record = {
        "name": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "rows": int(keep.sum()),
        "rows_in_file": len(df),
        "excluded": excluded,
        "work_function_masked": n_masked,
    }
    if not keep.any():
        raise ExtraLabelsError(f"{path}: no usable row ({len(df)} rows, none with a finite surface energy)")
    return out, record


def _structures(path: Path, rows: pd.DataFrame) -> list:
    """Parsed and checked unrelaxed slabs of ``rows``, or a one-line error naming the first bad row."""
    from semcgcnn.io import InputError, structure_from_json
    from semcgcnn.validation import structure_problem

    out = []
    for sid, row, text in zip(rows["structure_id"], rows["row"], rows["structure_json"], strict=True):
        where = f"{path}: row {row} ({sid})"
        if not isinstance(text, str) or not text.strip():
            raise ExtraLabelsError(f"{where}: empty structure_json")
        try:
            s = structure_from_json(text)
        except InputError as e:
            raise ExtraLabelsError(f"{where}: structure_json {e}") from None
        problem = structure_problem(s)
        if problem:
            raise ExtraLabelsError(f"{where}: {problem}")
        out.append(s)
    return out


def _chemsys(structure: Structure) -> str:
    return "-".join(sorted({el.symbol for el in structure.composition.elements}))


def load_extra_labels(
    paths: Path | Sequence[Path], graph_config: GraphConfig | None = None, workers: int | None = 1
) -> ExtraLabels:
    """Read, check and featurize one or more labels tables (rows in file order, files in the
    given order); see the module docstring for what is refused, excluded and masked."""
    from semcgcnn.model.graphs import featurize_structures

    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        raise ExtraLabelsError("no labels file given")
    graph_config = graph_config or GraphConfig()
    sets, ys, frames, files, seen = [], [], [], [], {}
    for path in paths:
        rows, record = read_labels_table(path)
        for sid in rows["structure_id"]:
            if sid in seen:
                raise ExtraLabelsError(
                    f"{path}: structure_id {sid!r} is also in {seen[sid]} (one label per slab)"
                )
            seen[sid] = path.name
        structures = _structures(path, rows)
        chemsys = [
            c if isinstance(c, str) and c else _chemsys(s)
            for c, s in zip(rows["chemsys"], structures, strict=True)
        ]
        try:
            gs = featurize_structures(structures, list(rows["structure_id"]), graph_config, workers=workers)
        except ValueError as e:  # e.g. a slab without a vacuum gap
            raise ExtraLabelsError(f"{path}: {str(e).splitlines()[0]}") from None
        sets.append(gs)
        ys.append(rows[[SE_COLUMN, WF_COLUMN]].to_numpy(float))
        frames.append(
            pd.DataFrame(
                {"source": SOURCE, "structure_id": rows["structure_id"].to_numpy(), "chemsys": chemsys}
            )
        )
        files.append(record)
        log.info("%s: %d labelled slabs (%s)", path.name, len(rows), ", ".join(sorted(set(chemsys))))
    return ExtraLabels(GraphSet.concat(sets), np.concatenate(ys), pd.concat(frames, ignore_index=True), files)


def with_extra_training_rows(
    split: tuple[np.ndarray, np.ndarray, np.ndarray], n_base: int, n_extra: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``split`` of ``n_base`` rows with rows ``n_base .. n_base + n_extra - 1`` (extra labels,
    appended after the base rows) added to training, never to validation or test."""
    tr, va, te = split
    return np.concatenate([np.asarray(tr, np.int64), np.arange(n_base, n_base + n_extra)]), va, te


def held_out_overlap(frame: pd.DataFrame, split: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict:
    """Extra-label rows of ``frame`` whose chemical system is a validation or test system of
    ``split``: counted per system, and warned about (they make those metrics optimistic)."""
    chemsys = frame["chemsys"].to_numpy()
    extra = frame["source"].to_numpy() == SOURCE
    held = set(chemsys[np.asarray(split[1], np.int64)]) | set(chemsys[np.asarray(split[2], np.int64)])
    hits = pd.Series(chemsys[extra & np.isin(chemsys, list(held))]).value_counts().sort_index()
    if len(hits):
        log.warning(
            "%d extra-label rows are in validation/test systems (%s): they train the model, so those "
            "systems' validation/test metrics are no longer for unseen systems",
            int(hits.sum()),
            ", ".join(hits.index),
        )
    return {str(k): int(v) for k, v in hits.items()}


def labels_table_from_records(
    records: Sequence[Record], backend: str = "shipped-dft", method: str = "shipped DFT labels"
) -> pa.Table:
    """Shipped dataset records (:func:`semcgcnn.datasets.load`) as a labels table (Arrow, the
    ``labels`` schema): the shipped DFT labels acting as the oracle, e.g. to test fine-tuning or
    simulate active learning. Columns the records do not carry are null. ``backend`` and ``method``
    fill the columns of the same name on every row."""
    from semcgcnn.schema import SCHEMAS, to_table
    from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

    rows = []
    for r in records:
        se = float(r.targets.get("surface_energy", np.nan))
        wf = float(r.targets.get("work_function", np.nan))
        row = dict.fromkeys(SCHEMAS["labels"].names)
        row.update(
            structure_id=r.structure_id,
            chemsys=r.chemsys,
            formula=r.structure.composition.formula.replace(" ", ""),
            n_atoms=len(r.structure),
            surface_area_A2=r.meta.get("surface_area_A2"),
            surface_energy_eV_per_A2=se,
            surface_energy_J_per_m2=se * EV_PER_A2_TO_J_PER_M2,
            work_function_eV=wf,
            work_function_available=bool(np.isfinite(wf)),
            backend=backend,
            method=method,
            slab_relaxed=False,
            structure_json=r.structure.to_json(),
        )
        rows.append(row)
    return to_table("labels", rows)
