"""Reading user structure files (CIF, POSCAR/CONTCAR/.vasp, pymatgen JSON) with one-line errors.

JSON is read with :mod:`json` and ``Structure.from_dict``; nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from semcgcnn.errors import UserError

if TYPE_CHECKING:
    from pymatgen.core import Structure

log = logging.getLogger(__name__)

STRUCTURE_SUFFIXES = (".cif", ".vasp", ".json", ".poscar")
STRUCTURE_NAMES = ("POSCAR", "CONTCAR")
A_DIRECTORY = "a directory, not a structure file"


class InputError(UserError):
    """A user file that is not a usable structure; the message is one line naming the reason."""


def is_structure_name(path: Path) -> bool:
    """A name like a structure file's: CIF, .vasp/.poscar, pymatgen JSON, or POSCAR*/CONTCAR*."""
    path = Path(path)
    return path.suffix.lower() in STRUCTURE_SUFFIXES or path.name.upper().startswith(STRUCTURE_NAMES)


def entry_problem(path: Path) -> str | None:
    """Why ``path`` is not a regular file this process can read (a symlink loop, a dangling
    symlink, a directory, a FIFO or device, no read permission), or ``None``."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop (the link leads back to itself)"
        if e.errno == errno.ENOENT and path.is_symlink():
            return f"dangling symlink: {os.readlink(path)} does not exist"
        if e.errno == errno.ENOENT:
            return "no such file or directory"
        if e.errno == errno.EACCES:
            return "permission denied"
        return f"unreadable ({e.strerror or e.__class__.__name__})"
    if stat.S_ISDIR(st.st_mode):
        return A_DIRECTORY
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a FIFO, socket or device)"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def folder_entries(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The entries of ``folder`` named like structure files (sorted; subfolders are not searched):
    the readable files, and ``(path, reason)`` for the entries that cannot be read
    (:func:`entry_problem`). Raises ``OSError`` if the folder itself cannot be listed."""
    files, bad = [], []
    for p in sorted(Path(folder).iterdir()):
        problem = entry_problem(p) if is_structure_name(p) else A_DIRECTORY
        if problem is None:
            files.append(p)
        elif problem != A_DIRECTORY:
            bad.append((p, problem))
    return files, bad


def find_structure_files(paths: list[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files named by ``paths`` (directories searched one level, sorted). Returns the files and
    ``(path, reason)`` for arguments that do not exist or hold no structure file, and for entries
    that cannot be read (a symlink loop, a dangling symlink, no permission, not a regular file)."""
    files, missing = [], []
    for p in map(Path, paths):
        if p.is_dir():
            try:
                found, bad = folder_entries(p)
            except OSError as e:
                missing.append((p, f"unreadable directory ({e.strerror or e.__class__.__name__})"))
                continue
            if not found and not bad:
                missing.append((p, "directory holds no CIF, POSCAR/.vasp or JSON file"))
            files += found
            missing += bad
        else:
            problem = entry_problem(p)
            if problem is None:
                files.append(p)
            else:
                missing.append((p, problem))
    return files, missing


def structure_ids(paths: list[Path]) -> list[str]:
    """One id per path, unique in the list: the file's stem; its name where stems clash
    (``mg001.cif``, ``mg001.json``); the path as given where names clash too. A path listed
    twice is an :class:`InputError` (two rows of one run would share an id)."""
    paths = [Path(p) for p in paths]
    twice = [p for p, n in Counter(map(str, paths)).items() if n > 1]
    if twice:
        raise InputError(f"{twice[0]} is given twice: every structure needs its own id")
    forms = (lambda p: p.stem, lambda p: p.name, str)
    level = [0] * len(paths)
    while True:  # each round moves a clashing id one form on; paths as given never clash
        ids = [forms[k](p) for k, p in zip(level, paths, strict=True)]
        counts = Counter(ids)
        clash = [i for i, x in enumerate(ids) if counts[x] > 1]
        if not clash:
            return ids
        for i in clash:
            level[i] = min(level[i] + 1, len(forms) - 1)


def file_kind(path: Path) -> str:
    """``"JSON"``, ``"CIF"`` or ``"POSCAR"``: the format a structure file is read as (by its name)."""
    suffix = Path(path).suffix.lower()
    return "JSON" if suffix == ".json" else "CIF" if suffix == ".cif" else "POSCAR"


def parse_structure(path: Path) -> Structure:
    """A pymatgen ``Structure`` parsed from the file ``path`` (format by :func:`file_kind`), or
    :class:`InputError` saying in words what is wrong with the file (``"JSON is not a pymatgen
    Structure: no 'lattice' key"``, ...)."""
    from pymatgen.core import Structure

    path = Path(path)
    kind = file_kind(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"unreadable file ({e.__class__.__name__}: {e})") from None
    if not text.strip():
        raise InputError(f"{kind} file is empty")
    if kind == "JSON":
        return _structure_from_json(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return Structure.from_file(path)
        except Exception as e:  # noqa: BLE001 - any parser failure on a user file is one clear message
            hints = [str(w.message) for w in caught]
            reason = _cif_problem(text, hints) if kind == "CIF" else _poscar_problem(e)
    raise InputError(reason)


def _first_line(e: BaseException) -> str:
    msg = str(e).strip()
    return (msg.splitlines()[0] if msg else e.__class__.__name__)[:200]


def _structure_from_json(text: str) -> Structure:
    from pymatgen.core import Structure

    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"JSON is malformed: {e.msg} at line {e.lineno} column {e.colno}") from None
    if not isinstance(d, dict):
        raise InputError(
            f"JSON is not a pymatgen Structure: the top level is {_json_type(d)}, not an object "
            "with 'lattice' and 'sites'"
        )
    if "lattice" not in d:
        if d.get("@class") == "Molecule":
            raise InputError(
                "JSON is a pymatgen Molecule, not a Structure: no 'lattice' (a crystal graph needs a cell)"
            )
        raise InputError("JSON is not a pymatgen Structure: no 'lattice' key")
    if "sites" not in d:
        raise InputError("JSON is not a pymatgen Structure: no 'sites' key")
    if not isinstance(d["lattice"], dict) or not isinstance(d["sites"], list):
        raise InputError("JSON is not a pymatgen Structure: 'lattice' must be an object and 'sites' a list")
    try:
        return Structure.from_dict(d)
    except KeyError as e:
        raise InputError(f"JSON is not a valid pymatgen Structure: missing key {e.args[0]!r}") from None
    except Exception as e:  # noqa: BLE001 - a malformed lattice or site entry
        raise InputError(f"JSON is not a valid pymatgen Structure: {_first_line(e)}") from None


def _json_type(value: object) -> str:
    return {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _cif_problem(text: str, hints: list[str]) -> str:
    """Why pymatgen read no structure from a CIF, in words (from the blocks and the parser's warnings)."""
    from pymatgen.io.cif import CifFile, str2float

    try:
        blocks = list(CifFile.from_str(text).data.values())
    except Exception:  # noqa: BLE001 - not even CIF syntax
        blocks = []
    if not blocks:
        return "CIF has no data_ block: this is not a CIF file"
    data = blocks[0].data
    if not all(f"_cell_length_{x}" in data for x in "abc"):
        return "CIF has no cell: _cell_length_a, _b or _c is missing"
    try:
        lengths = [str2float(data[f"_cell_length_{x}"]) for x in "abc"]
    except (TypeError, ValueError):
        return "CIF cell lengths are not numbers"
    if min(lengths) <= 0:
        return f"CIF cell has a zero or negative length (a, b, c = {', '.join(f'{v:g}' for v in lengths)} Å)"
    if "_atom_site_fract_x" not in data and "_atom_site_Cartn_x" not in data:
        return "CIF has no atom sites: no _atom_site_fract_x/_atom_site_Cartn_x loop"
    if any("sum to > 1" in h for h in hints):
        return (
            "CIF has overlapping atoms: sites at the same position (occupancies sum to > 1), "
            "so no structure was read"
        )
    if any("Singular matrix" in h for h in hints):
        return "CIF cell is degenerate: its lattice vectors are coplanar (check the cell angles)"
    return "CIF has no readable structure (pymatgen found none: are atoms overlapping or the cell missing?)"


def _poscar_problem(e: Exception) -> str:
    msg = _first_line(e)
    if isinstance(e, IndexError):
        return (
            "POSCAR is malformed: the file ends early (needs a comment line, a scale, 3 lattice rows, "
            "element names and counts, then one coordinate row per atom)"
        )
    if msg.startswith("could not convert string to float"):
        return f"POSCAR is malformed: expected numbers, found {msg.partition(': ')[2]}"
    if "at least 1 site" in msg:
        return "POSCAR lists no atoms (the atom counts are zero)"
    return f"POSCAR is malformed: {msg}"


def read_structure(path: Path) -> Structure:
    """:func:`parse_structure` of ``path``, then refuse what no crystal graph can take (empty,
    disordered, a degenerate cell, overlapping atoms)."""
    from .validation import overlap_problem, structure_problem

    s = parse_structure(path)
    problem = structure_problem(s) or overlap_problem(s)
    if problem:
        raise InputError(problem)
    return s


def structure_from_json(text: str) -> Structure:
    """A pymatgen Structure from the JSON string ``text`` (``Structure.to_json``, e.g. a table's
    ``structure_json`` cell), or a one-line :class:`InputError` saying what is wrong."""
    return _structure_from_json(text)
