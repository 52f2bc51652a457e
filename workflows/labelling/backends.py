"""The labelling backends as step Makers, and what a step Maker's type decides.

A :class:`~.maker.SurfacePropertyMaker` calculates the bulk (and the rich element's reference)
with its bulk relax/static Makers and every slab with its slab relax/static Makers; each step's
last output becomes a :class:`~semcgcnn.pipeline.labelling.calc.CalcResult` (or an error result,
see :mod:`.jobs`). The choices, all configured by :func:`backend_makers`:

* ``gpaw``: :class:`~.gpaw.GpawRelaxMaker` or :class:`~.gpaw.GpawStaticMaker`, one job per
  calculation, GPAW in its own process (a relaxation ends with the final single point).
* ``vasp``: atomate2's ``RelaxMaker``/``StaticMaker`` with the paper's INCAR (:mod:`.vasp`), then a
  job that reads the static run's files (energy, Fermi level, LOCPOT).
* ``mlip``: atomate2's ``ForceFieldRelaxMaker``/``ForceFieldStaticMaker`` (:mod:`.forcefield`);
  no work function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobflow import Maker

from semcgcnn.pipeline.labelling.calc import LabelError
from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS
from semcgcnn.pipeline.labelling.mlip import DEFAULT_MLIP

from .gpaw import GpawRelaxMaker, GpawStaticMaker
from .jobs import forcefield_result_job, vasp_result_job

if TYPE_CHECKING:
    from collections.abc import Callable

    from jobflow import Job
    from pymatgen.core import Structure

BACKENDS = ("gpaw", "vasp", "mlip")
PRESETS = tuple(GPAW_PRESETS)  # fast, default
SINGLE_PRESET = "default"
"""The preset of the VASP (the paper's settings) and ML-potential backends: they have one."""


def backend_makers(
    backend: str,
    preset: str = "fast",
    relax_bulk: bool = False,
    relax_slabs: bool = True,
    mlip_model: str = DEFAULT_MLIP,
) -> dict[str, Maker | None]:
    """The step Makers of ``backend``: ``{"bulk_relax_maker", "bulk_static_maker",
    "slab_relax_maker", "slab_static_maker"}`` (a relax Maker None where that step does not relax).

    Parameters
    ----------
    backend
        ``gpaw``, ``vasp`` or ``mlip`` (:data:`BACKENDS`).
    preset
        ``fast`` or ``default`` (:data:`PRESETS`): GPAW's settings; VASP and the ML potential have one.
    relax_bulk
        Relax the bulk (atoms and cell) before its single point.
    relax_slabs
        Relax the slab atoms that ``selective_dynamics`` leaves free.
    mlip_model
        The ML potential of ``mlip`` (a :data:`~semcgcnn.pipeline.labelling.mlip.MLIP_MODELS` name).

    Raises
    ------
    LabelError
        An unknown backend, preset or ML potential (one line).
    """
    if backend not in BACKENDS:
        raise LabelError(f"unknown backend {backend!r}: choose {', '.join(BACKENDS)}")
    if preset not in PRESETS:
        raise LabelError(f"unknown preset {preset!r}: choose {', '.join(PRESETS)}")
    if backend == "gpaw":
        return {
            "bulk_relax_maker": GpawRelaxMaker(kind="bulk", preset=preset) if relax_bulk else None,
            "bulk_static_maker": None if relax_bulk else GpawStaticMaker(kind="bulk", preset=preset),
            "slab_relax_maker": GpawRelaxMaker(kind="slab", preset=preset) if relax_slabs else None,
            "slab_static_maker": None if relax_slabs else GpawStaticMaker(kind="slab", preset=preset),
        }
    if backend == "vasp":
        from .vasp import vasp_makers

        bulk_relax, bulk_static = vasp_makers("bulk", relax_bulk_cell=True)
        slab_relax, slab_static = vasp_makers("slab")
    else:
        from .forcefield import mlip_makers

        bulk_relax, bulk_static = mlip_makers(mlip_model, "bulk", relax_bulk_cell=True)
        slab_relax, slab_static = mlip_makers(mlip_model, "slab")
    return {
        "bulk_relax_maker": bulk_relax if relax_bulk else None,
        "bulk_static_maker": bulk_static,
        "slab_relax_maker": slab_relax if relax_slabs else None,
        "slab_static_maker": slab_static,
    }


def step_backend(maker: Maker) -> str:
    """The backend of a step Maker: ``gpaw``, ``vasp`` or ``mlip`` (LabelError for another Maker)."""
    if isinstance(maker, (GpawRelaxMaker, GpawStaticMaker)):
        return "gpaw"
    from atomate2.vasp.jobs.base import BaseVaspMaker

    if isinstance(maker, BaseVaspMaker):
        return "vasp"
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker  # ForceFieldStaticMaker is one

    if isinstance(maker, ForceFieldRelaxMaker):
        return "mlip"
    raise LabelError(f"{type(maker).__name__} is not a GPAW, VASP or force-field Maker")


def backend_of(makers: list[Maker]) -> str:
    """The one backend of the step Makers ``makers`` (LabelError when they mix backends: a surface
    energy takes the slab's and the bulk's energy from the same calculator)."""
    found = sorted({step_backend(m) for m in makers})
    if len(found) != 1:
        raise LabelError(f"the steps mix backends ({', '.join(found)}): bulk and slab energies need one")
    return found[0]


def preset_of(makers: list[Maker]) -> str:
    """The preset of the step Makers: the GPAW Makers' one (LabelError when they differ), else
    :data:`SINGLE_PRESET`."""
    if backend_of(makers) != "gpaw":
        return SINGLE_PRESET
    found = sorted({m.preset for m in makers})
    if len(found) != 1:
        raise LabelError(f"the GPAW steps mix presets ({', '.join(found)}): bulk and slab energies need one")
    return found[0]


def mlip_model_of(makers: list[Maker]) -> str:
    """The ML potential of the force-field step Makers (LabelError when they differ), else
    :data:`~semcgcnn.pipeline.labelling.mlip.DEFAULT_MLIP` (what the tables' provenance records)."""
    from semcgcnn.pipeline.labelling.mlip import mlip_name

    if backend_of(makers) != "mlip":
        return DEFAULT_MLIP
    found = sorted({mlip_name(m.force_field_name) for m in makers})
    if len(found) != 1:
        raise LabelError(f"the force-field steps mix ML potentials ({', '.join(found)})")
    return found[0]


def check_dry_run(backend: str) -> None:
    """``--dry-run`` writes VASP or GPAW input folders: a one-line LabelError for any other backend."""
    if backend not in ("vasp", "gpaw"):
        raise LabelError(
            f"--dry-run writes DFT input folders: use it with --backend vasp or gpaw, not {backend}"
        )


def check_makers(makers: list[Maker], structures: list, dry_run: bool = False) -> None:
    """Before any job exists: a one-line LabelError when the step Makers' backend cannot calculate
    ``structures`` here (not installed, an element it lacks, no VASP command or POTCAR library),
    or cannot write a dry run (``dry_run``: VASP or GPAW)."""
    backend = backend_of(makers)
    if dry_run:
        check_dry_run(backend)
    if backend == "gpaw":
        from semcgcnn.pipeline.labelling.gpaw import check_gpaw

        check_gpaw(structures)
    elif backend == "vasp":
        from .vasp import check_vasp

        check_vasp(dry_run, structures)
    else:
        from semcgcnn.pipeline.labelling.mlip import check_mlip

        check_mlip(mlip_model_of(makers), structures)


def check_size(makers: list[Maker], calculations: list[tuple[str, Structure, str]]) -> None:
    """A one-line LabelError when a calculation of the step Makers' backend cannot fit in this
    machine's memory (GPAW: its estimate against the memory available; VASP runs where its own
    batch system sizes the job, and an ML potential's memory grows with the atoms only).

    Args:
        makers: the step Makers (one backend).
        calculations: ``(name, structure, kind)`` of each calculation, ``kind`` ``"bulk"`` or ``"slab"``.
    """
    if backend_of(makers) == "gpaw":
        from semcgcnn.pipeline.labelling.gpaw import check_size as check_gpaw_size

        check_gpaw_size(calculations, preset_of(makers))


def result_job(maker: Maker) -> Callable[..., Job] | None:
    """The job that turns the output of a step Maker's job into a CalcResult (VASP: its folder's
    files; force field: its task document), or None where that output is one (GPAW)."""
    return {"gpaw": None, "vasp": vasp_result_job, "mlip": forcefield_result_job}[step_backend(maker)]
