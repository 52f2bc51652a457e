"""VASP backend: the paper's settings (§2.1) as data, the checks before a run, the dry-run README
and parsing a finished VASP folder into a :class:`~.calc.CalcResult`.

Paper §2.1: PBE, PAW, ENCUT 480 eV, EDIFF 1e-4 eV, EDIFFG −0.02 eV/Å, pymatgen automatic k-points,
symmetric slabs > 10 Å with 15 Å of vacuum, atoms > 3 Å from either surface fixed, work function
from the Fermi level and the local vacuum level. What the paper does not state is chosen here and
written in :data:`UNSTATED_SETTINGS` (smearing, POTCAR set, k-point density, no +U).

The atomate2 side (the input-set generator built from these settings, the Makers that carry it and
the dry-run folders written through atomate2) is :mod:`semcgcnn.workflows.labelling.vasp`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .calc import CalcResult, LabelError

if TYPE_CHECKING:
    from pymatgen.core import Structure

log = logging.getLogger(__name__)

#: INCAR of every step (paper §2.1 where stated; see :data:`UNSTATED_SETTINGS` for the rest).
PAPER_INCAR = {
    "GGA": "PE",  # PBE (atomate2's base set is PBEsol/r2SCAN-derived: GGA = PS, so this matters)
    "ENCUT": 480,
    "EDIFF": 1e-4,
    "EDIFFG": -0.02,  # negative: a force criterion, eV/Å
    "PREC": "Accurate",
    "LREAL": False,
    "ISMEAR": 0,
    "SIGMA": 0.05,
    "LDAU": False,
    "ISPIN": 1,
    "LWAVE": False,
}
#: added on slabs (relax and static): the Hartree + ionic potential to LOCPOT and a dipole
#: correction along c, centred on the slab (DIPOL set per structure by :func:`slab_dipole_centre`).
SLAB_INCAR = {"LVHAR": True, "LDIPOL": True, "IDIPOL": 3}
RELAX_INCAR = {"IBRION": 2, "NSW": 200, "LCHARG": False}
STATIC_INCAR = {"IBRION": -1, "NSW": 0, "LCHARG": True}
#: pymatgen's slab k-point rule (``MVLSlabSet``): n_i = round(K_PRODUCT / |a_i|) along a and b,
#: and along c for a bulk; 1 along c (the slab normal) for a slab.
K_PRODUCT = 50
#: what the paper leaves open, chosen here; written into every CalcResult's settings.
UNSTATED_SETTINGS = {
    "smearing": "ISMEAR 0 (Gaussian), SIGMA 0.05 eV, as pymatgen's MVLSlabSet; energies σ→0",
    "potcars": "Materials Project PBE set (pymatgen MPRelaxSet: e.g. Mg_pv)",
    "kpoints": f"Gamma-centred, n = round({K_PRODUCT}/|a_i|), 1 along c for slabs (pymatgen MVLSlabSet rule)",
    "spin": "ISPIN 1, no +U",
}


def mp_config() -> dict:
    """pymatgen's ``MPRelaxSet`` configuration (PBE POTCARs: POTCAR_FUNCTIONAL PBE, Mg_pv) without
    its k-point rule (:func:`kpoint_mesh` gives the k-points)."""
    from pymatgen.io.vasp.sets import MPRelaxSet

    cfg = deepcopy(MPRelaxSet()._config_dict)  # noqa: SLF001  PBE POTCARs (POTCAR_FUNCTIONAL PBE, Mg_pv)
    cfg["KPOINTS"] = {}
    return cfg


def slab_dipole_centre(structure: Structure) -> list[float]:
    """DIPOL: fractional centre of the slab ``structure`` (the middle of the atoms along c,
    unwrapped across the periodic boundary at the vacuum gap); a and b at 0.5 (IDIPOL = 3 uses the
    c component only)."""
    from semcgcnn.geometry import largest_gap

    z = np.asarray(structure.frac_coords)[:, 2] % 1.0
    bottom, gap = largest_gap(z)
    return [0.5, 0.5, float((bottom + (1.0 - gap) / 2.0) % 1.0)]


def kpoint_mesh(structure: Structure, slab: bool) -> tuple[int, int, int]:
    """The k-point rule: see :data:`K_PRODUCT` (``structure``: the cell to sample; ``slab``: whether
    it is a slab, one k-point along c)."""
    a, b, c = structure.lattice.abc
    n = [max(1, int(K_PRODUCT / x + 0.5)) for x in (a, b, c)]
    return (n[0], n[1], 1 if slab else n[2])


def step_incar(slab: bool, relax: bool, relax_cell: bool = False, structure: Structure | None = None) -> dict:
    """The paper's INCAR of one step: :data:`PAPER_INCAR` with :data:`RELAX_INCAR` (``relax``; ISIF 3
    when ``relax_cell`` on a bulk, else ISIF 2) or :data:`STATIC_INCAR`, and :data:`SLAB_INCAR` on a
    ``slab`` (DIPOL by :func:`slab_dipole_centre` when its ``structure`` is given)."""
    upd = dict(PAPER_INCAR)
    upd.update(RELAX_INCAR if relax else STATIC_INCAR)
    if relax:
        upd["ISIF"] = 3 if (relax_cell and not slab) else 2
    if slab:
        upd.update(SLAB_INCAR)
        if structure is not None:
            upd["DIPOL"] = slab_dipole_centre(structure)
    return upd


def potcar_symbols(structure: Structure) -> list[str]:
    """POTCAR symbol of each element of ``structure`` (in POSCAR order); a one-line LabelError for
    an element the set has no POTCAR for."""
    cfg = mp_config()["POTCAR"]
    missing = sorted({el.symbol for el in structure.composition.elements} - set(cfg))
    if missing:
        raise LabelError(
            f"no POTCAR for {', '.join(missing)} in the Materials Project PBE set used for VASP labels"
        )
    return [cfg[el.symbol] for el in structure.composition.elements]


def check_vasp_setup(
    dry_run: bool, structures: Iterable[Structure] = (), vasp_cmd: str | None = None
) -> None:
    """Before anything runs: one-line LabelError when an element of ``structures`` (those to be
    labelled) has no POTCAR symbol; and, unless ``dry_run``, when the VASP executable of
    ``vasp_cmd`` (atomate2's ``VASP_CMD``) is not on PATH or the POTCAR library
    (``PMG_VASP_PSP_DIR``) is unset or missing."""
    for s in structures:
        potcar_symbols(s)
    if dry_run:
        return
    import shlex

    cmd = shlex.split(vasp_cmd or "")
    # the VASP executable: the token naming vasp (after a launcher such as mpirun/srun), else the first
    exes = [t for t in cmd if "vasp" in Path(t).name.lower()] or cmd[:1]
    if not exes or not any(shutil.which(e) for e in exes):
        raise LabelError(
            f"VASP not found: atomate2's VASP_CMD is {vasp_cmd!r} and "
            f"{exes[0] if exes else 'no executable'!r} is not on PATH "
            "(set ATOMATE2_VASP_CMD, or use --dry-run to write the inputs only)"
        )
    psp = psp_dir()
    if not psp:
        raise LabelError(
            "no POTCAR library: set PMG_VASP_PSP_DIR (or use --dry-run to write POTCAR.spec files)"
        )
    if not Path(psp).is_dir():
        raise LabelError(f"no POTCAR library: PMG_VASP_PSP_DIR={psp} is not a folder")


def psp_dir() -> str | None:
    """The POTCAR library folder (``PMG_VASP_PSP_DIR``, from the environment or pymatgen's settings)."""
    import os

    from pymatgen.core import SETTINGS as PMG

    return os.environ.get("PMG_VASP_PSP_DIR") or PMG.get("PMG_VASP_PSP_DIR")


DRY_RUN_README = """VASP inputs written by sem-cgcnn ({kind}, paper §2.1 settings; dry run: nothing was run).

run.sh   runs the chain: relax/, then relax/CONTCAR copied to static/POSCAR, then static/
         (VASP_CMD, default vasp_std; submit it as one job, or run ../run_all.sh for every folder);
         once finished, `semcgcnn label collect ..` writes labels.parquet.
relax/   run first. {relax_note}
static/  the single point that gives the label's energy{wf}. Its POSCAR as written is the
         UNRELAXED structure; run.sh replaces it with relax/CONTCAR (do so by hand otherwise).
{potcar_note}
Settings: {settings}
Chosen where the paper is silent: {unstated}
"""


def dry_run_readme(kind: str, relax_bulk_cell: bool, psp: str | None) -> str:
    """The README.txt of a dry-run folder (:data:`DRY_RUN_README`) of a ``"bulk"`` or ``"slab"``:
    ``relax_bulk_cell``: its bulk relax is ISIF 3; ``psp``: the POTCAR library the POTCARs came
    from (None: POTCAR.spec files were written instead)."""
    relax_note = (
        "ISIF 2, atoms more than 3 Å below either surface fixed (POSCAR selective dynamics)"
        if kind == "slab"
        else ("ISIF 3 (cell and positions)" if relax_bulk_cell else "ISIF 2 (positions, cell fixed)")
    )
    return DRY_RUN_README.format(
        kind=kind,
        relax_note=relax_note,
        wf=" and the LOCPOT (work function)" if kind == "slab" else "",
        potcar_note=(
            "POTCAR.spec lists the POTCAR symbols; set PMG_VASP_PSP_DIR and write the POTCAR with "
            "`pmg potcar --symbols ...` (or rerun with the library set)."
            if psp is None
            else f"POTCAR from {psp}."
        ),
        settings=", ".join(f"{k} {v}" for k, v in PAPER_INCAR.items()),
        unstated="; ".join(f"{k}: {v}" for k, v in UNSTATED_SETTINGS.items()),
    )


RUN_SCRIPT = """#!/usr/bin/env bash
# sem-cgcnn VASP chain of {name}: relax, then the static single point from the relaxed positions.
set -euo pipefail
cd "$(dirname "$0")"
VASP_CMD=${{VASP_CMD:-vasp_std}}
(cd relax && $VASP_CMD > vasp.out 2>&1)
cp relax/CONTCAR static/POSCAR
(cd static && $VASP_CMD > vasp.out 2>&1)
"""


def run_script(name: str) -> str:
    """The ``run.sh`` of a dry-run folder named ``name``: relax, CONTCAR → static POSCAR, static."""
    return RUN_SCRIPT.format(name=name)


def _vasp_version(folder: Path) -> str:
    """The OUTCAR's first line names the VASP version (``vasp.6.4.2 ...``); else that line, cut."""
    p = folder / "OUTCAR"
    if not p.exists():
        return ""
    with open(p, errors="replace") as fh:
        head = fh.readline().strip()
    return head.split()[0].removeprefix("vasp.") if head.startswith("vasp.") else head[:80]


def parse_vasp_dir(folder: Path | str, kind: str) -> CalcResult:
    """A finished VASP ``folder`` as a :class:`CalcResult`: energy (σ→0) from vasprun.xml if present,
    else OUTCAR; Fermi level likewise; final structure from CONTCAR (else vasprun.xml, POSCAR);
    the LOCPOT's planar average along c when there is a LOCPOT. ``kind``: ``"bulk"`` or ``"slab"``."""
    from pymatgen.core import Structure
    from pymatgen.io.vasp import Locpot, Outcar, Vasprun

    folder = Path(folder)
    if kind not in ("bulk", "slab"):
        raise LabelError(f"kind must be 'bulk' or 'slab', not {kind!r}")

    def find(name: str) -> Path | None:
        for cand in (folder / name, folder / f"{name}.gz"):
            if cand.exists():
                return cand
        return None

    energy = fermi = None
    n_steps = 0
    structure = None
    version = ""
    settings: dict = {}
    shown: dict = {}
    if (vr := find("vasprun.xml")) is not None:
        run = Vasprun(
            str(vr), parse_dos=True, parse_eigen=False, parse_potcar_file=False
        )  # efermi is read with the DOS
        energy, fermi = float(run.final_energy), run.efermi
        n_steps = len(run.ionic_steps)
        structure = run.final_structure
        version = str(run.vasp_version)
        settings = {k: v for k, v in run.incar.items()}  # the INCAR as given
        params = run.parameters  # every parameter as VASP ran it (ENMAX: the ENCUT used)
        shown = {
            "GGA": params.get("GGA"),
            "ENCUT": params.get("ENMAX"),
            "EDIFF": params.get("EDIFF"),
            "EDIFFG": params.get("EDIFFG"),
        }
    elif (oc := find("OUTCAR")) is not None:
        out = Outcar(str(oc))
        energy, fermi = out.final_energy, out.efermi
        version = _vasp_version(folder)
    else:
        raise LabelError(f"{folder}: no vasprun.xml or OUTCAR (not a finished VASP run)")
    if energy is None:
        raise LabelError(f"{folder}: no final energy in the VASP outputs (did the run finish?)")
    for name in ("CONTCAR", "POSCAR"):
        if structure is None and (p := find(name)) is not None and p.stat().st_size > 0:
            structure = Structure.from_file(p)
    if structure is None:
        raise LabelError(f"{folder}: no final structure (CONTCAR, vasprun.xml or POSCAR)")
    potential = None
    if (lp := find("LOCPOT")) is not None:
        potential = [float(v) for v in Locpot.from_file(str(lp)).get_average_along_axis(2)]
    elif kind == "slab":
        log.warning("%s: no LOCPOT, so no work function for this slab (LVHAR was off?)", folder)
    if (ic := find("INCAR")) is not None and not settings:
        from pymatgen.io.vasp import Incar

        settings = dict(Incar.from_file(ic))
    settings = {
        k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v)) for k, v in settings.items()
    }
    shown = {k: shown.get(k, settings.get(k)) for k in ("GGA", "ENCUT", "EDIFF", "EDIFFG")}
    method = f"VASP {version} " + ", ".join(f"{k} {v}" for k, v in shown.items() if v not in (None, ""))
    return CalcResult(
        kind=kind,
        energy_eV=float(energy),
        n_atoms=len(structure),
        structure=structure.as_dict(),
        code="VASP",
        code_version=version,
        method=method.strip(),
        settings=settings,
        fermi_eV=None if fermi is None else float(fermi),
        potential_z_eV=potential,
        n_ionic_steps=n_steps,
        dir_name=str(folder.resolve()),
    )
