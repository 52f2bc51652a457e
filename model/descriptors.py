"""Element-level descriptors taken out of the shipped DFT data (issue: generalising to unseen Mg–X).

A CGCNN atom embedding knows an element only through its 92 CGCNN features, so it cannot tell
how "hard" an unseen element's surfaces are. The shipped elemental data can: per element,

* ``elemental_min_surface_energy``: lowest DFT surface energy over its elemental slabs (eV/Å²);
* ``elemental_work_function``: median DFT work function over its elemental slabs (eV), else the
  GalvCalc elemental work function table (``reference_tables``), else missing;
* ``no_elemental_slabs``: 1 where the element has no elemental slab (its SE was imputed).

Three tables exist. ``elemental``: a missing SE is set to the mean. ``imputed``: a missing SE is
estimated from the element's melting point (pymatgen's element data) by a straight-line fit over
the elements that have both (r = 0.88 over 42 elements: surfaces of high-melting elements cost
more to make, the broken-bond picture); boron, cobalt, germanium, antimony, arsenic, phosphorus,
selenium and tellurium, all Mg partners, have no elemental slab in the shipped data.

``moduli``: ``imputed`` plus a compound-level column taken out of the bundled Materials Project
bulk data (elasticity collection, the screening candidates): per element X, the median shear
modulus G of its Mg–X compounds (for Mg, of all of them), and a flag where X has none. Element
data cannot tell that Mg–B, Mg–Be or Mg–Co surfaces are 0.05–0.08 eV/Å² harder than X's
elemental surfaces suggest; the stiffness of their bulk compounds can (r = 0.84 between G and
the system-mean slab SE over the 41 Mg–X slab systems with moduli). G comes from bulk data,
not from any surface label, so it is known for every bundled screening candidate.

Values are standardised over the elements that have them; missing ones are set to 0 (the mean).
The table (one row per atomic number) is stored inside model checkpoints, so prediction never
needs the data files.
"""

from __future__ import annotations

import numpy as np

DESCRIPTOR_NAMES = ("elemental_min_surface_energy", "elemental_work_function", "no_elemental_slabs")
MODULI_NAMES = ("mg_compound_shear_modulus", "no_mg_compound")
DESCRIPTOR_SETS = ("elemental", "imputed", "moduli")
N_Z = 119  # rows indexed by atomic number (0 unused)


def raw_element_descriptors() -> dict[str, np.ndarray]:
    """Unstandardised per-element values (NaN where unknown), indexed by atomic number."""
    import pandas as pd
    from pymatgen.core import Element

    from semcgcnn.datasets import labels
    from semcgcnn.datasets.registry import REFERENCE_TABLES

    el = labels("elemental_slabs")
    by = el.groupby("element")
    se = np.full(N_Z, np.nan)
    wf = np.full(N_Z, np.nan)
    for sym, v in by["surface_energy_eV_per_A2"].min().items():
        se[Element(sym).Z] = v
    for sym, v in by["work_function_eV"].median().items():
        wf[Element(sym).Z] = v
    table = pd.read_csv(REFERENCE_TABLES / "elemental_work_functions_wf.csv")
    for sym, v in zip(table["element"], table["work_function_eV"], strict=True):
        z = Element(sym).Z
        if np.isnan(wf[z]):
            wf[z] = v
    return {"elemental_min_surface_energy": se, "elemental_work_function": wf}


def melting_points() -> np.ndarray:
    """Melting point (K) by atomic number from pymatgen's element data, NaN where unknown."""
    import warnings

    from pymatgen.core import Element

    out = np.full(N_Z, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns for elements without the datum
        for z in range(1, N_Z):
            v = Element.from_Z(z).melting_point
            out[z] = float(v) if v is not None else np.nan
    return out


def impute_surface_energy(se: np.ndarray, melting: np.ndarray) -> np.ndarray:
    """``se`` with missing values estimated by a linear fit on the melting point."""
    have = np.isfinite(se) & np.isfinite(melting)
    slope, intercept = np.polyfit(melting[have], se[have], 1)
    fill = ~np.isfinite(se) & np.isfinite(melting)
    return np.where(fill, intercept + slope * melting, se)


def imputed_surface_energy(measured: np.ndarray) -> np.ndarray:
    """Lowest elemental SE by atomic number, a missing one estimated from the melting point."""
    return impute_surface_energy(measured, melting_points())


def descriptor_names(kind: str) -> tuple[str, ...]:
    """Column names of the descriptor set ``kind`` (one of :data:`DESCRIPTOR_SETS`)."""
    if kind not in DESCRIPTOR_SETS:
        raise ValueError(f"unknown descriptor set {kind!r}; choose one of {DESCRIPTOR_SETS}")
    return DESCRIPTOR_NAMES + (MODULI_NAMES if kind == "moduli" else ())


def mg_compound_shear_modulus() -> np.ndarray:
    """Median Voigt–Reuss–Hill shear modulus (GPa) of the bundled Mg–X compounds, by atomic
    number of X (Mg: over all compounds); NaN where an element has no Mg compound there."""
    from pymatgen.core import Element

    from semcgcnn.datasets import labels

    bulk = labels("mg_binary_bulk")
    out = np.full(N_Z, np.nan)
    for sym, g in bulk.groupby("X_element")["shear_modulus_vrh_GPa"]:
        out[Element(sym).Z] = g.median()
    out[Element("Mg").Z] = bulk["shear_modulus_vrh_GPa"].median()
    return out


def _standardised(v: np.ndarray) -> np.ndarray:
    ok = np.isfinite(v)
    return np.where(ok, (v - v[ok].mean()) / v[ok].std(), 0.0)


def element_descriptor_table(kind: str = "elemental") -> np.ndarray:
    """(119, n) float32 table of standardised descriptors, rows by atomic number, columns
    :func:`descriptor_names`; ``kind`` is one of :data:`DESCRIPTOR_SETS`."""
    descriptor_names(kind)  # validates kind
    raw = raw_element_descriptors()
    no_slabs = ~np.isfinite(raw["elemental_min_surface_energy"])
    if kind in ("imputed", "moduli"):
        raw["elemental_min_surface_energy"] = imputed_surface_energy(raw["elemental_min_surface_energy"])
    cols = [_standardised(raw[name]) for name in DESCRIPTOR_NAMES[:2]] + [no_slabs.astype(float)]
    if kind == "moduli":
        g = mg_compound_shear_modulus()
        cols += [_standardised(g), (~np.isfinite(g)).astype(float)]
    return np.stack(cols, axis=1).astype(np.float32)
