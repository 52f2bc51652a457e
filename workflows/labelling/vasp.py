"""The VASP steps as atomate2 pieces: the paper's settings (:mod:`semcgcnn.pipeline.labelling.vasp`)
as an input-set generator, atomate2's ``RelaxMaker``/``StaticMaker`` carrying it, the checks before
a run and submit-ready dry-run folders written through atomate2's own ``write_vasp_input_set``.

One source of truth: :class:`PaperSetGenerator` builds every INCAR/KPOINTS/POSCAR/POTCAR; the
Makers of :func:`vasp_makers` carry it and :func:`write_dry_run` writes with those Makers' generators.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from atomate2.vasp.sets.base import VaspInputGenerator
from pymatgen.io.vasp import Kpoints

from semcgcnn.pipeline.labelling.calc import LabelError
from semcgcnn.pipeline.labelling.slabs import with_fixed_interior
from semcgcnn.pipeline.labelling.vasp import (
    check_vasp_setup,
    dry_run_readme,
    kpoint_mesh,
    mp_config,
    potcar_symbols,
    psp_dir,
    run_script,
    step_incar,
)

if TYPE_CHECKING:
    from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker
    from pymatgen.core import Structure

log = logging.getLogger(__name__)


@dataclass
class PaperSetGenerator(VaspInputGenerator):
    """The paper's INCAR for one step: ``slab`` (else bulk), ``relax`` (else static) and
    ``relax_cell`` (ISIF 3, bulk only; else ISIF 2), from
    :func:`~semcgcnn.pipeline.labelling.vasp.step_incar`. KPOINTS by
    :func:`~semcgcnn.pipeline.labelling.vasp.kpoint_mesh`."""

    slab: bool = True
    relax: bool = True
    relax_cell: bool = False

    @property
    def incar_updates(self) -> dict:
        return step_incar(self.slab, self.relax, self.relax_cell, self.structure)

    @property
    def kpoints_updates(self) -> dict | Kpoints:
        if self.structure is None:
            return {}
        return Kpoints.gamma_automatic(kpoint_mesh(self.structure, self.slab))


def paper_generator(kind: str, relax: bool, relax_cell: bool = False) -> PaperSetGenerator:
    """A :class:`PaperSetGenerator` for one step of a ``"bulk"`` or ``"slab"`` (auto smearing and
    INCAR inheritance off: the settings are fixed, whatever a previous step wrote)."""
    if kind not in ("bulk", "slab"):
        raise LabelError(f"kind must be 'bulk' or 'slab', not {kind!r}")
    return PaperSetGenerator(
        config_dict=mp_config(),
        slab=kind == "slab",
        relax=relax,
        relax_cell=relax_cell,
        auto_ismear=False,
        auto_metal_kpoints=False,
        inherit_incar=False,
    )


def vasp_makers(kind: str, relax_bulk_cell: bool = False) -> tuple[RelaxMaker, StaticMaker]:
    """(relax Maker, static Maker) for a ``"bulk"`` or ``"slab"`` with the paper's settings:
    atomate2's ``RelaxMaker``/``StaticMaker`` carrying a :class:`PaperSetGenerator`. A slab relax
    is ISIF 2 and honours the structure's ``selective_dynamics`` (see
    :func:`~semcgcnn.pipeline.labelling.slabs.with_fixed_interior`); a bulk relax is ISIF 3 when
    ``relax_bulk_cell``, else ISIF 2 (internal coordinates at the given cell)."""
    from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker

    relax = RelaxMaker(
        name=f"{kind} relax (paper)",
        input_set_generator=paper_generator(kind, relax=True, relax_cell=relax_bulk_cell),
    )
    static = StaticMaker(
        name=f"{kind} static (paper)", input_set_generator=paper_generator(kind, relax=False)
    )
    return relax, static


def check_vasp(dry_run: bool, structures: Iterable[Structure] = ()) -> None:
    """:func:`~semcgcnn.pipeline.labelling.vasp.check_vasp_setup` with atomate2's ``VASP_CMD``:
    POTCAR symbols of ``structures``; unless ``dry_run``, the VASP executable and POTCAR library."""
    from atomate2 import SETTINGS

    check_vasp_setup(dry_run, structures, SETTINGS.VASP_CMD)


def write_dry_run(structure: Structure, kind: str, folder: Path | str, relax_bulk_cell: bool = False) -> Path:
    """Submit-ready input folders ``folder/relax`` and ``folder/static`` (INCAR, KPOINTS, POSCAR with
    selective dynamics for a slab, POTCAR when a POTCAR library is set, else POTCAR.spec) and a
    README.txt; written by atomate2's ``write_vasp_input_set`` with the generators of
    :func:`vasp_makers`. A slab without ``selective_dynamics`` gets the paper's fixed interior.
    ``structure``: the bulk or slab; ``kind``: ``"bulk"`` or ``"slab"``; ``relax_bulk_cell``: the
    bulk relax is ISIF 3."""
    from atomate2.vasp.files import write_vasp_input_set

    folder = Path(folder)
    potcar_symbols(structure)
    if kind == "slab" and "selective_dynamics" not in structure.site_properties:
        structure = with_fixed_interior(structure)
    psp = psp_dir()
    spec = not (psp and Path(psp).is_dir())
    for maker in vasp_makers(kind, relax_bulk_cell):
        step = "relax" if "relax" in maker.name else "static"
        d = folder / step
        d.mkdir(parents=True, exist_ok=True)
        gen = deepcopy(maker.input_set_generator)  # get_input_set stores the structure on the generator
        # clean_prev=False: atomate2 0.1.5 would delete INCAR/POSCAR/... in the *current* folder
        write_vasp_input_set(
            structure, gen, directory=d, potcar_spec=spec, clean_prev=False, apply_incar_updates=False
        )
    (folder / "README.txt").write_text(dry_run_readme(kind, relax_bulk_cell, None if spec else psp))
    script = folder / "run.sh"
    script.write_text(run_script(folder.name))
    script.chmod(0o755)
    log.info("VASP dry run (%s) written to %s", kind, folder)
    return folder
