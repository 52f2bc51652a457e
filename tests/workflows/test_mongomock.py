"""Two in-process MongoDB stand-ins are installed: ``mongomock`` (for mongomock-persistence, FireWorks'
embedded mode in tests) and ``mongomock-ng`` (for maggma's in-memory stores, which jobflow uses).
Each import name must come from exactly one distribution, so which code runs never depends on
the order of installation."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

from packaging.version import Version


def _provided_by(module) -> str:
    """The one distribution that installed ``module``'s ``__init__.py``."""
    (dist,) = set(md.packages_distributions()[module.__name__])
    assert (
        Path(module.__file__).resolve()
        == Path(md.distribution(dist).locate_file(f"{module.__name__}/__init__.py")).resolve()
    )
    return dist


def test_each_mongomock_module_comes_from_one_distribution():
    import mongomock
    import mongomock_ng
    import mongomock_persistence
    from maggma.stores import mongolike

    assert _provided_by(mongomock) == "mongomock" and _provided_by(mongomock_ng) == "mongomock-ng"
    assert mongolike.mongomock is mongomock_ng  # maggma's MemoryStore (jobflow's default job store)
    assert mongomock_persistence.MongoClient is mongomock.MongoClient  # FireWorks' embedded mode
    assert Version(md.version("mongomock-ng")) >= Version("7.6")  # pyproject.toml's pin
    assert Version(md.version("mongomock")) > Version("4.2")  # mongomock-persistence's
