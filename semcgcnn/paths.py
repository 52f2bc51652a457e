"""Where sem-cgcnn keeps derived files (parsed structures, cached graphs).

Caches live outside the source tree: ``$SEMCGCNN_CACHE_DIR`` if set, otherwise
``$XDG_CACHE_HOME/semcgcnn`` or ``~/.cache/semcgcnn``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_ENV = "SEMCGCNN_CACHE_DIR"


def cache_dir(sub: str | None = None) -> Path:
    """Return (and create) the cache directory, optionally a named sub-folder of it."""
    root = os.environ.get(CACHE_ENV)
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "semcgcnn"
    path = base / sub if sub else base
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_files(paths: list[Path], extra: str = "") -> str:
    """Content hash of several files (names and bytes) plus an extra salt string."""
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def atomic_write_bytes(path: Path, write) -> None:
    """Write a file atomically: ``write(tmp_path)`` then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
