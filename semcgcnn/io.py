"""Reading user structure files (CIF, POSCAR/CONTCAR/.vasp, pymatgen JSON) with one-line errors.

JSON is read with :mod:`json` and ``Structure.from_dict``; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

STRUCTURE_SUFFIXES = (".cif", ".vasp", ".json", ".poscar")
STRUCTURE_NAMES = ("POSCAR", "CONTCAR")


class InputError(ValueError):
    """A user file that is not a usable structure; the message is one line naming the reason."""


def is_structure_file(path: Path) -> bool:
    """A file named like a structure: CIF, .vasp/.poscar, pymatgen JSON, or POSCAR*/CONTCAR*."""
    return path.is_file() and (path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.upper().startswith(STRUCTURE_NAMES))


def find_structure_files(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files named by ``paths`` (directories searched one level, sorted). Returns the files and
    ``(path, reason)`` for arguments that do not exist or hold no structure file."""
    files, missing = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if is_structure_file(f))
            if not found:
                missing.append((p, "directory holds no CIF, POSCAR/.vasp or JSON file"))
            files += found
        elif p.is_file():
            files.append(p)
        else:
            missing.append((p, "no such file or directory"))
    return files, missing


def parse_structure(path: Path):
    """A pymatgen ``Structure`` parsed from one file, or :class:`InputError` with the reason."""
    from pymatgen.core import Structure

    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            return Structure.from_dict(json.loads(path.read_text()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Structure.from_file(path)
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable file ({e.__class__.__name__}: {e})") from None
    except Exception as e:  # noqa: BLE001 - any parser failure on a user file is one clear message
        msg = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise InputError(f"not a structure ({msg[:200]})") from None


def read_structure(path: Path):
    """:func:`parse_structure`, then refuse what no crystal graph can take (empty, disordered)."""
    from .validation import structure_problem

    s = parse_structure(path)
    problem = structure_problem(s)
    if problem:
        raise InputError(problem)
    return s
