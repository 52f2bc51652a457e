"""The GPAW steps as jobflow Makers: each ``make(structure)`` is one job running GPAW in its own
process (:func:`~.jobs.gpaw_calc_job`), whose output is the step's
:class:`~semcgcnn.pipeline.labelling.calc.CalcResult` (or an error result).

* :class:`GpawStaticMaker`: a single point (a slab's electrostatic potential written).
* :class:`GpawRelaxMaker`: a relaxation (atoms; a bulk's cell too) that ends with the single point
  of the relaxed structure in the same process, so no static Maker follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobflow import Job, Maker

from .jobs import gpaw_calc_job

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass
class GpawStaticMaker(Maker):
    """A GPAW single point of a ``kind`` (``"bulk"`` or ``"slab"``) structure with the settings of
    ``preset`` (:data:`~semcgcnn.pipeline.labelling.gpaw.GPAW_PRESETS`)."""

    name: str = "GPAW static"
    kind: str = "slab"
    preset: str = "fast"

    def make(self, structure: Structure) -> Job:
        """The GPAW job of ``structure`` (a pymatgen Structure)."""
        j = gpaw_calc_job(structure, self.kind, self.preset, False)  # relax: no
        j.name = self.name
        return j


@dataclass
class GpawRelaxMaker(Maker):
    """A GPAW relaxation of a ``kind`` structure (a slab: the atoms its ``selective_dynamics`` leaves
    free; a bulk: atoms and cell), then the single point of the relaxed structure, with the
    settings of ``preset``."""

    name: str = "GPAW relax"
    kind: str = "slab"
    preset: str = "fast"

    def make(self, structure: Structure) -> Job:
        """The GPAW job of ``structure`` (a pymatgen Structure)."""
        j = gpaw_calc_job(structure, self.kind, self.preset, True)  # relax: yes
        j.name = self.name
        return j
