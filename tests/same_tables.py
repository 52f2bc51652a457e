"""The refactor's identity check (``bench/identity.py``) as a test assertion: every Parquet table of a
reference folder equal, value for value and in its metadata (creation time and package version
aside), to the same table of another run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

IDENTITY = Path(__file__).resolve().parents[1] / "bench" / "identity.py"


def _identity():
    spec = importlib.util.spec_from_file_location("bench_identity", IDENTITY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_same_tables(out: Path, ref: Path, expected: set[str]) -> None:
    """Fail unless ``out`` holds every table of ``ref``, identical, and ``ref`` holds exactly ``expected``."""
    result = _identity().compare_dirs(Path(ref), Path(out))
    assert set(result) == expected, sorted(result)
    bad = {name: t["differences"] for name, t in result.items() if not t["identical"]}
    assert not bad, bad


LABEL_TIMING = ("wall_s",)
LABEL_RTOL = 1e-9
"""A GPAW label computed twice with the same settings differs in its last digits (measured: 2e-12
relative in γ and Φ, from the order of floating-point sums), and its wall time differs."""


def assert_same_labels(out: Path, ref: Path) -> None:
    """``labels.parquet`` and ``errors.parquet`` of ``out`` equal to ``ref``'s: errors identical, labels
    equal in every column but the wall time, floats to :data:`LABEL_RTOL`, metadata identical."""
    import pandas as pd

    identity = _identity()
    result = identity.compare_dirs(Path(ref), Path(out))
    assert set(result) == {"labels.parquet", "errors.parquet"}, sorted(result)
    assert result["errors.parquet"]["identical"], result["errors.parquet"]["differences"]
    got, want = (
        pd.read_parquet(Path(d) / "labels.parquet").drop(columns=list(LABEL_TIMING)) for d in (out, ref)
    )
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=LABEL_RTOL)
    meta = [d for d in result["labels.parquet"]["differences"] if d.startswith("metadata")]
    assert not meta, meta
