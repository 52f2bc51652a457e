"""Where sem-cgcnn keeps derived files (parsed structures, cached graphs).

Caches live outside the source tree: ``$SEMCGCNN_CACHE_DIR`` if set, otherwise
``$XDG_CACHE_HOME/semcgcnn`` or ``~/.cache/semcgcnn``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from semcgcnn.errors import UserError

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


def atomic_write_bytes(path: Path, write: Callable[[Path], object]) -> None:
    """Write a file atomically: ``write(tmp_path)`` then rename over ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class OutputPathError(UserError):
    """An output location that cannot be written; the message is one line naming it and why."""


class DiskFullError(OutputPathError):
    """No space left on the device an output goes to; the message names the path and the free space."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for want of space (a full device, or a quota)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _mount_point(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def _bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns at GB


def disk_full_error(path: Path) -> DiskFullError:
    """The one-line error of a write to ``path`` that found its device full."""
    mount = _mount_point(Path(path))
    free = _bytes(shutil.disk_usage(mount).free)
    return DiskFullError(f"cannot write {path}: no space left on device ({free} free on {mount})")


def check_output_dir(path: Path) -> Path:
    """Make sure ``path`` is (or can be created as) a writable folder, before any work is done.

    Creates it (and its parents); raises :class:`OutputPathError` naming the reason otherwise."""
    path = Path(path)
    for parent in (path, *path.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputPathError(f"cannot write to {path}: {parent} is a file, not a folder")
        if parent.exists():
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise OutputPathError(f"cannot write to {path}: {e.strerror or e}") from None
    return path


def check_output_file(path: Path) -> Path:
    """Make sure the file ``path`` can be written (its folder exists or can be made, and is
    writable; ``path`` itself is not a folder), before any work is done."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"cannot write to {path}: it is a folder, not a file name")
    check_output_dir(path.parent if str(path.parent) else Path("."))
    return path
