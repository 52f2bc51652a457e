"""The datasets shipped with sem-cgcnn: names, files, targets and their units.

This module is the one home of target names; their units come from :mod:`semcgcnn.units`, and
everything that writes a column with a physical value takes its unit from :data:`TARGETS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from semcgcnn.units import COLUMN_TAGS, UNITS

DATA_ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Target:
    """A labelled quantity: its name, unit, and the unit tag used in column names."""

    name: str
    unit: str
    unit_tag: str

    @property
    def column(self) -> str:
        """Column name with the unit in it, e.g. ``surface_energy_eV_per_A2``."""
        return f"{self.name}_{self.unit_tag}"


TARGETS: dict[str, Target] = {name: Target(name, unit, COLUMN_TAGS[unit]) for name, unit in UNITS.items()}


@dataclass(frozen=True)
class DatasetSpec:
    """One shipped dataset."""

    name: str
    folder: str
    kind: str  # "slab" or "bulk"
    targets: tuple[str, ...]
    description: str
    citation: str

    @property
    def path(self) -> Path:
        return DATA_ROOT / self.folder

    @property
    def provenance(self) -> Path:
        return self.path / "PROVENANCE.md"


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec(
            "mg_binary_slabs",
            "sem_cgcnn_mg_binary_slabs",
            "slab",
            ("surface_energy", "work_function"),
            "SEM-CGCNN unrelaxed Mg–X binary slabs (3218 of the paper's 3526; 7 systems withheld)",
            "G. Shi et al., J. Magnes. Alloys (2024), doi:10.1016/j.jma.2024.12.005",
        ),
        DatasetSpec(
            "elemental_slabs",
            "mp_elemental_slabs_se_wf",
            "slab",
            ("surface_energy", "work_function"),
            "Materials Project elemental metal slabs (Crystalium, 42 metals)",
            "R. Tran et al., Sci. Data 3, 160080 (2016); Surf. Sci. 687, 48 (2019)",
        ),
        DatasetSpec(
            "palizhati_slabs",
            "palizhati_intermetallic_slabs_se",
            "slab",
            ("surface_energy",),
            "Intermetallic slabs with cleavage energy (248 systems)",
            "A. Palizhati et al., J. Chem. Inf. Model. 59, 4742 (2019)",
        ),
        DatasetSpec(
            "mg_binary_bulk",
            "mp_bulk_mg_binaries_and_elements",
            "bulk",
            ("bulk_modulus_vrh", "shear_modulus_vrh"),
            "Materials Project bulk Mg–X binaries (screening candidates)",
            "A. Jain et al., APL Mater. 1, 011002 (2013); matcalc benchmark data",
        ),
        DatasetSpec(
            "elemental_refs",
            "mp_bulk_mg_binaries_and_elements",
            "bulk",
            ("energy_per_atom",),
            "Materials Project PBE elemental reference structures (88 elements)",
            "A. Jain et al., APL Mater. 1, 011002 (2013); matcalc MP-PBE-Element-Refs",
        ),
    )
}

REFERENCE_TABLES = DATA_ROOT / "reference_tables"


def get_spec(name: str) -> DatasetSpec:
    """Return the spec of a shipped dataset, with a clear error for an unknown name."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; shipped datasets: {', '.join(DATASETS)}") from None
