"""Process-level tuning for CPU training."""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of returning it to the OS.

    A training step allocates and frees tens of MB-sized tensors; above glibc's 32 MB mmap
    ceiling each allocation is a fresh ``mmap`` whose pages fault in again on first touch,
    which cost ~20 % of an epoch here. With mmap disabled and a high trim threshold, freed
    blocks are reused. Maths unchanged; a no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) == 1
    except (OSError, AttributeError):
        return False
    log.debug("glibc mallopt: mmap disabled, trim threshold 1 GiB (%s)", ok)
    return ok
