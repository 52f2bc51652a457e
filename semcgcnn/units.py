"""Units, defined once: the unit of each labelled quantity, how a unit is written in a column
name, and the one conversion the package makes (surface energy from eV/Å² to J/m²)."""

from __future__ import annotations

ELEMENTARY_CHARGE_C = 1.602176634e-19
"""1 eV in J (the SI definition, exact)."""
ANGSTROM_M = 1e-10
"""1 Å in m."""

EV_PER_A2_TO_J_PER_M2 = round(ELEMENTARY_CHARGE_C / ANGSTROM_M**2, 4)
"""1 eV/Å² in J/m²: 16.02176634 (e / Å²) rounded to 16.0218, the value every table, prediction and
label of the package is written with."""

UNITS: dict[str, str] = {
    "surface_energy": "eV/Å²",
    "work_function": "eV",
    "bulk_modulus_vrh": "GPa",
    "shear_modulus_vrh": "GPa",
    "energy_per_atom": "eV/atom",
}
"""The unit of each labelled quantity (target), by target name."""

COLUMN_TAGS: dict[str, str] = {"eV/Å²": "eV_per_A2", "eV": "eV", "GPa": "GPa", "eV/atom": "eV_per_atom"}
"""How each unit is written at the end of a column name (``surface_energy_eV_per_A2``)."""
