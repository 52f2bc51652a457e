"""The 92-dimensional CGCNN atom features (``atom_init.json``, shipped with CGCNN and SEM-CGCNN)."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from semcgcnn.errors import UserError

ATOM_INIT = Path(__file__).resolve().parent / "atom_init.json"

ELEMENT_SYMBOLS = ("",) + tuple(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf "
    "Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og".split()
)
"""Element symbol by atomic number (index 0 unused), so graph-level code needs no pymatgen
(e.g. training on a machine without it); checked against pymatgen in the tests."""


class UnknownElementError(UserError):
    """An element outside the atom-feature table."""


@lru_cache(maxsize=4)
def atom_feature_table(path: Path = ATOM_INIT) -> np.ndarray:
    """Rows indexed by atomic number; rows of elements without features are NaN."""
    raw = json.loads(Path(path).read_text())
    zmax = max(int(z) for z in raw)
    width = len(next(iter(raw.values())))
    table = np.full((zmax + 1, width), np.nan, dtype=np.float32)
    for z, vec in raw.items():
        table[int(z)] = vec
    table.setflags(write=False)
    return table


def atom_table_hash(path: Path = ATOM_INIT) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def check_elements(atomic_numbers: np.ndarray, table: np.ndarray | None = None) -> None:
    """Raise :class:`UnknownElementError` if any element has no feature row."""
    table = atom_feature_table() if table is None else table
    z = np.asarray(atomic_numbers)
    bad = (z < 0) | (z >= len(table))
    bad[~bad] = np.isnan(table[z[~bad], 0])
    if bad.any():
        names = sorted({ELEMENT_SYMBOLS[int(x)] if 0 < x < len(ELEMENT_SYMBOLS) else str(x) for x in z[bad]})
        raise UnknownElementError(f"no CGCNN atom features for element(s) {', '.join(names)}")


def atom_features(atomic_numbers: np.ndarray, surface: np.ndarray) -> np.ndarray:
    """Per-atom input features: 92 CGCNN columns plus the surface flag (N, 93)."""
    table = atom_feature_table()
    check_elements(atomic_numbers, table)
    return np.concatenate([table[atomic_numbers], np.asarray(surface, np.float32)[:, None]], axis=1)
