"""Bulk candidates for the screen: the shipped Mg–X binaries, the Materials Project, or files.

Each source returns ``(candidates, errors)``; a structure that cannot be screened (unreadable
file, partial occupancy, no Mg) becomes an error row, never an exception. Problems the user has
to fix (missing API key, no network, empty folder) raise :class:`CandidateError` with a one-line
message.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monty.json import MSONable

from semcgcnn.errors import UserError

if TYPE_CHECKING:
    from pymatgen.core import Structure

log = logging.getLogger(__name__)

METALLOIDS = frozenset({"B", "Si", "Ge", "As", "Sb", "Te", "Po"})
NONMETALS = frozenset(
    {"H", "He", "C", "N", "O", "F", "Ne", "P", "S", "Cl", "Ar", "Se", "Br", "Kr", "I", "Xe", "Rn"}
)
SOURCES = ("bundled", "mp")
DEFAULT_E_ABOVE_HULL_EV = 0.05
"""``--source mp``: keep compounds within this many eV/atom of the convex hull."""


class CandidateError(UserError):
    """A problem with the candidate source that the user must fix (one-line message)."""


@dataclass
class Candidate(MSONable):
    """One bulk compound to screen (MSONable: a jobflow job can take or return it)."""

    compound_id: str
    structure: object  # pymatgen Structure
    source: str
    formula: str = ""
    X_element: str = ""
    X_category: str = ""
    Mg_fraction: float = float("nan")
    e_above_hull_eV_per_atom: float = float("nan")  # the source's own value (Materials Project), else NaN

    @property
    def n_atoms(self) -> int:
        return len(self.structure)


def element_category(symbol: str) -> str:
    """metal / metalloid / nonmetal, as in the shipped data's ``X_category``."""
    return "nonmetal" if symbol in NONMETALS else "metalloid" if symbol in METALLOIDS else "metal"


def describe(
    compound_id: str, structure: Structure, source: str, e_above_hull: float = float("nan")
) -> Candidate:
    """A candidate with formula, partner element(s) and their category filled in from the structure:
    ``compound_id`` names it, ``structure`` is its bulk cell, ``source`` where it comes from."""
    comp = structure.composition
    others = sorted(el.symbol for el in comp.elements if el.symbol != "Mg")
    return Candidate(
        compound_id,
        structure,
        source,
        comp.reduced_formula,
        ",".join(others),
        ",".join(sorted({element_category(x) for x in others})),
        float(comp.get_atomic_fraction("Mg")),
        float(e_above_hull),
    )


def check(structure: Structure) -> str | None:
    """Why a bulk structure cannot be screened, or ``None``: what no crystal graph can take
    (:func:`semcgcnn.validation.structure_problem`: non-finite numbers, a degenerate cell, ...),
    no Mg, an implausible or overlapping cell, or a vacuum gap (a slab given as a bulk, the rule
    ``semcgcnn label`` applies: :func:`semcgcnn.validation.bulk_problem`). Nothing that can crash
    on a bad number (spglib, the neighbour search) runs before the structure check."""
    from semcgcnn.validation import bulk_problem, overlap_problem, structure_problem

    problem = structure_problem(structure)
    if problem:
        return problem
    if "Mg" not in {el.symbol for el in structure.composition.elements}:
        return f"no Mg in {structure.composition.reduced_formula}; the screen is for Mg compounds"
    if structure.volume / len(structure) < 3.0:
        return f"implausible cell: {structure.volume / len(structure):.2f} Å³ per atom"
    return overlap_problem(structure) or bulk_problem(structure)


def load_bundled() -> list[Candidate]:
    """The 210 Materials Project Mg–X binaries shipped with the package (``mg_binary_bulk``)."""
    from semcgcnn.datasets import load

    out = []
    for rec in load("mg_binary_bulk"):
        m = rec.meta
        out.append(
            Candidate(
                rec.structure_id,
                rec.structure,
                "bundled",
                m["formula"],
                m["X_element"],
                m["X_category"],
                float(m["Mg_fraction"]),
            )
        )
    return out


def load_directory(folder: Path) -> tuple[list[Candidate], list[dict]]:
    """Bulk structures from CIF, POSCAR/CONTCAR/.vasp or pymatgen-JSON files in ``folder``; an
    entry that cannot be read (a symlink loop, a dangling symlink, no permission) is an error row.
    Compound ids are unique (:func:`semcgcnn.io.structure_ids`: ``mg001.cif`` and ``mg001.json``
    where two files share a stem)."""
    from semcgcnn.io import InputError, folder_entries, parse_structure, structure_ids

    folder = Path(folder)
    if not folder.is_dir():
        raise CandidateError(f"--structures {folder}: not a folder")
    try:
        files, unreadable = folder_entries(folder)
    except OSError as exc:
        raise CandidateError(f"--structures {folder}: cannot list the folder ({exc.strerror})") from None
    if not files and not unreadable:
        raise CandidateError(f"--structures {folder}: no CIF, POSCAR/.vasp or .json structure files")
    ids, problems = dict(zip(files, structure_ids(files), strict=True)), dict(unreadable)
    out, errors = [], []
    for path in sorted([*files, *problems]):  # error rows in the folder's order
        try:
            if path in problems:
                raise InputError(problems[path])
            structure = parse_structure(path)
        except InputError as exc:
            errors.append(
                {"stage": "candidates", "id": path.name, "reason": f"unreadable structure file: {exc}"}
            )
            continue
        reason = check(structure)
        if reason:
            errors.append({"stage": "candidates", "id": path.name, "reason": reason})
            continue
        out.append(describe(ids[path], structure, "file"))
    return out, errors


def mp_query(e_above_hull: float = DEFAULT_E_ABOVE_HULL_EV, max_elements: int = 2) -> dict:
    """The Materials Project summary search of the screen's candidates: Mg compounds of 2 to
    ``max_elements`` elements within ``e_above_hull`` eV/atom of the hull (keyword arguments of
    ``MPRester().materials.summary.search``).

    Args:
        e_above_hull: energy above the hull bound, eV/atom.
        max_elements: most elements per compound (2: binaries; 3: binaries and ternaries).
    """
    return {
        "elements": ["Mg"],
        "num_elements": (2, int(max_elements)),
        "energy_above_hull": (0, float(e_above_hull)),
        "fields": ["material_id", "structure", "energy_above_hull"],
    }


def mp_label(e_above_hull: float, max_elements: int) -> str:
    """The provenance label of a Materials Project source."""
    kinds = "binary" if max_elements == 2 else f"2- to {max_elements}-element"
    return f"mp:Materials Project summary, {kinds} Mg, e_above_hull<={e_above_hull}"


def load_mp(
    e_above_hull: float = DEFAULT_E_ABOVE_HULL_EV, api_key: str | None = None, max_elements: int = 2
) -> list[Candidate]:
    """Mg compounds of 2 to ``max_elements`` elements from the Materials Project within
    ``e_above_hull`` eV/atom of the hull (:func:`mp_query`)."""
    key = api_key or os.environ.get("MP_API_KEY")
    if not key:
        raise CandidateError("--source mp needs a Materials Project API key: set MP_API_KEY")
    try:
        from mp_api.client import MPRester
    except ImportError as exc:  # pragma: no cover - mp-api is a dependency
        raise CandidateError(f"--source mp needs the mp-api package ({exc})") from None
    try:
        with warnings.catch_warnings(), MPRester(key) as mpr:
            warnings.simplefilter("ignore")
            docs = mpr.materials.summary.search(**mp_query(e_above_hull, max_elements))
    except Exception as exc:  # noqa: BLE001 - network, authentication, server errors
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandidateError(f"could not query the Materials Project (network or API key): {msg}") from None
    return [describe(str(d.material_id), d.structure, "mp", _number(d.energy_above_hull)) for d in docs]


def _number(value: object) -> float:
    """``value`` as a float, NaN where the source gave none."""
    return float(value) if isinstance(value, (int, float)) else float("nan")


def element_filter(elements: Sequence[str]) -> set[str]:
    """The element symbols of an ``--elements`` filter, or :class:`CandidateError` naming the ones
    that are not elements (a typo would otherwise silently select nothing)."""
    from pymatgen.core import Element

    wanted = {e.strip() for e in elements if e.strip()}
    bad = sorted(e for e in wanted if not Element.is_valid_symbol(e))
    if bad:
        raise CandidateError(
            f"--elements: {', '.join(bad)} {'is not an element' if len(bad) == 1 else 'are not elements'}"
            " (give symbols such as Al,Zn; case matters)"
        )
    return wanted


def select(
    candidates: Sequence[Candidate],
    elements: Sequence[str] = (),
    max_atoms: int | None = None,
    limit: int | None = None,
) -> list[Candidate]:
    """Keep candidates whose partner elements are all in ``elements`` (if given) and whose bulk
    cell has at most ``max_atoms`` sites; then the first ``limit``, in source order.
    Raises :class:`CandidateError` if ``elements`` holds something that is not an element symbol."""
    wanted = element_filter(elements)
    out = []
    for c in candidates:
        partners = {x for x in c.X_element.split(",") if x}
        if wanted and not partners <= wanted:
            continue
        if max_atoms is not None and c.n_atoms > max_atoms:
            continue
        out.append(c)
    return out[:limit] if limit is not None else out


def gather(
    source: str = "bundled",
    structures: Path | None = None,
    e_above_hull: float = DEFAULT_E_ABOVE_HULL_EV,
    max_elements: int = 2,
) -> tuple[list[Candidate], list[dict], str]:
    """Candidates, error rows and a provenance label for the chosen source."""
    if structures is not None:
        cands, errors = load_directory(structures)
        return cands, errors, f"files:{Path(structures).resolve()}"
    if source == "bundled":
        return load_bundled(), [], "bundled:mg_binary_bulk (Materials Project via matcalc, 210 Mg-X binaries)"
    if source == "mp":
        return load_mp(e_above_hull, max_elements=max_elements), [], mp_label(e_above_hull, max_elements)
    raise CandidateError(f"unknown --source {source!r}; choose {' or '.join(SOURCES)}")


@dataclass
class CandidateSet:
    """The candidates a screen will cut, the inputs refused (error rows) and the source label."""

    candidates: list[Candidate]
    errors: list[dict]
    source: str
    n_valid: int  # valid inputs before the filters (to tell "filtered out" from "all failed")


def screen_candidates(
    source: str = "bundled",
    structures: Path | None = None,
    e_above_hull: float = DEFAULT_E_ABOVE_HULL_EV,
    elements: Sequence[str] = (),
    max_atoms: int | None = None,
    limit: int | None = None,
    max_elements: int = 2,
) -> CandidateSet:
    """Gather the source's structures, refuse the ones that cannot be screened (error rows),
    then apply the filters. Raises :class:`CandidateError` for problems the user must fix.
    ``max_elements``: most elements per Materials Project compound (``--source mp``)."""
    element_filter(elements)  # before gathering, which may query the Materials Project
    cands, errors, label = gather(source, structures, e_above_hull, max_elements)
    kept = []
    for c in cands:
        reason = check(c.structure)
        if reason:
            errors.append({"stage": "candidates", "id": c.compound_id, "reason": reason})
        else:
            kept.append(c)
    return CandidateSet(select(kept, elements, max_atoms, limit), errors, label, len(kept))
