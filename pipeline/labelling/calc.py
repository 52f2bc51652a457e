"""What one calculation (bulk or slab, any backend) gives back: :class:`CalcResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monty.json import MSONable

from semcgcnn.errors import UserError

if TYPE_CHECKING:
    from pymatgen.core import Structure


class LabelError(UserError):
    """A labelling problem the user must fix; the message is one line (the CLI prints it as is)."""


@dataclass
class CalcResult(MSONable):
    """One finished calculation. Energies in eV, potentials in eV (the electrostatic potential
    energy of an electron, as VASP's LOCPOT and GPAW's ``get_electrostatic_potential``, so that
    work function = vacuum level − Fermi level). MSONable and plain, so jobflow stores it as JSON."""

    kind: str  # "bulk" or "slab"
    energy_eV: float  # total energy (smearing extrapolated to 0 K where the code does so)
    n_atoms: int
    structure: dict  # final (relaxed) structure, pymatgen ``Structure.as_dict()``
    code: str  # "GPAW", "VASP", "SevenNet", ...
    code_version: str
    method: str  # one readable line, e.g. "GPAW 22.8.0 PBE PW 300 eV, FD 0.1 eV, k 12x12x1"
    settings: dict = field(default_factory=dict)  # every setting the result depends on
    fermi_eV: float | None = None  # None: the backend has no electrons (ML potentials)
    potential_z_eV: list[float] | None = None  # planar average of the electrostatic potential along c
    n_ionic_steps: int = 0
    wall_s: float = 0.0
    dir_name: str = ""  # where the code ran (its raw outputs), if anywhere

    @property
    def energy_per_atom_eV(self) -> float:
        return self.energy_eV / self.n_atoms

    def pmg_structure(self) -> Structure:
        """The final structure (``structure`` is a dict, or a Structure once a job store's
        decoder has turned the dict back into one)."""
        from pymatgen.core import Structure

        s = self.structure
        return s.copy() if isinstance(s, Structure) else Structure.from_dict(s)
