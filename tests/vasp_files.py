"""A finished calculation of any code (a GPAW run) written in VASP's file formats, for the tests
of the VASP output parsing: no VASP can run here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semcgcnn.pipeline.labelling.calc import CalcResult

OUTCAR_TEMPLATE = """ {header}
 number of bands    NBANDS=      0
 total plane-waves  NPLWV =      0
   IBRION =     -1    (not a VASP run: no ionic steps here)
 (sem-cgcnn: only the lines pymatgen's Outcar reads for the final energy and the Fermi level)

 E-fermi : {fermi:14.8f}     XC(G=0):   0.0000     alpha+bet :  0.0000

  FREE ENERGIE OF THE ION-ELECTRON SYSTEM (eV)
  ---------------------------------------------------
  free  energy   TOTEN  = {energy:20.8f} eV

  energy  without entropy= {energy:20.8f}  energy(sigma->0) = {energy:20.8f}
"""


def write_vasp_files(result: CalcResult, potential_3d: np.ndarray | None, folder: Path) -> Path:
    """Write ``result`` into ``folder`` in VASP's formats and return the folder.

    POSCAR and CONTCAR hold the final structure; LOCPOT holds ``potential_3d`` (the electrostatic
    potential energy of an electron, eV, on the cell's grid; None: no LOCPOT); a minimal OUTCAR holds
    the energy and Fermi level lines that pymatgen's ``Outcar`` reads (its header says so)."""
    from pymatgen.io.vasp import Locpot, Poscar

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    s = result.pmg_structure()
    if "selective_dynamics" in s.site_properties:  # a finished run's structure: no constraints to write
        s.remove_site_property("selective_dynamics")
    poscar = Poscar(
        s, comment=f"{s.composition.reduced_formula} written by sem-cgcnn from a {result.code} run"
    )
    poscar.write_file(folder / "POSCAR")
    poscar.write_file(folder / "CONTCAR")
    if potential_3d is not None:
        # pymatgen's LOCPOT convention: values stored as they are (no volume scaling, unlike CHGCAR)
        Locpot(poscar, {"total": np.asarray(potential_3d, dtype=float)}).write_file(folder / "LOCPOT")
    header = (
        f"written by sem-cgcnn from a {result.code} {result.code_version} run ({result.method}); "
        "not a VASP output"
    )
    (folder / "OUTCAR").write_text(
        OUTCAR_TEMPLATE.format(
            header=header,
            fermi=result.fermi_eV if result.fermi_eV is not None else float("nan"),
            energy=result.energy_eV,
        )
    )
    return folder
