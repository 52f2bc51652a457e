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
