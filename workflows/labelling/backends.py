"""The labelling backends as jobflow pieces, one interface: ``check(structures, dry_run)`` raises
a one-line :class:`~semcgcnn.pipeline.labelling.calc.LabelError` before any job exists,
``check_size(calculations)`` one when a calculation cannot fit on this machine, and
``calc(structure, kind, relax, name)`` returns a Job or Flow whose ``output`` is a
:class:`~semcgcnn.pipeline.labelling.calc.CalcResult` (or an error result, see :mod:`.label_jobs`).

* ``gpaw``: one job per calculation, GPAW in its own process (relaxation and the final static
  run with the electrostatic potential in one go).
* ``vasp``: atomate2's VASP Makers (relax, then static with the paper's INCAR), then a job that
  reads the static run's files (energy, Fermi level, LOCPOT).
* ``mlip``: atomate2's force-field Makers (relax, then static); no work function.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobflow import Flow, Job

from semcgcnn.pipeline.labelling.calc import LabelError

from .jobs import forcefield_result_job, gpaw_calc_job, vasp_result_job

BACKENDS = ("gpaw", "vasp", "mlip")
PRESETS = ("fast", "default")


@dataclass
class GpawBackend:
    preset: str = "fast"

    def check(self, structures: list, dry_run: bool = False) -> None:
        from semcgcnn.pipeline.labelling.gpaw import check_gpaw

        if dry_run:
            raise LabelError("--dry-run writes VASP input folders: use it with --backend vasp")
        check_gpaw(structures)

    def check_size(self, calculations: list[tuple[str, object, str]]) -> None:
        """A one-line :class:`LabelError` for a ``(name, structure, kind)`` too large for this machine."""
        from semcgcnn.pipeline.labelling.gpaw import check_size

        check_size(calculations, self.preset)

    def calc(self, structure, kind: str, relax: bool, name: str) -> Job:
        j = gpaw_calc_job(structure, kind, self.preset, relax)
        j.name = name
        return j


def _chain(relax_maker, static_maker, structure, relax: bool, result_job, kind: str, name: str) -> Flow:
    """relax (optional) → static on the relaxed structure → the job turning the static's task
    document into a CalcResult; one Flow whose output is that result."""
    jobs = []
    if relax:
        r = relax_maker.make(structure)
        r.name = f"{name} relax"
        jobs.append(r)
        structure = r.output.structure
    s = static_maker.make(structure)
    s.name = f"{name} static"
    parse = result_job(s.output, kind)
    parse.name = f"{name} result"
    return Flow([*jobs, s, parse], output=parse.output, name=name)


@dataclass
class VaspBackend:
    preset: str = "default"  # the paper's settings; VASP has one preset

    def check(self, structures: list, dry_run: bool = False) -> None:
        from semcgcnn.pipeline.labelling.vasp import check_vasp

        check_vasp(dry_run, structures)

    def check_size(self, calculations: list[tuple[str, object, str]]) -> None:
        """Nothing: VASP runs where its own batch system sizes the job."""

    def calc(self, structure, kind: str, relax: bool, name: str) -> Flow:
        from semcgcnn.pipeline.labelling.vasp import vasp_makers

        relax_maker, static_maker = vasp_makers(kind, relax_bulk_cell=kind == "bulk")
        return _chain(relax_maker, static_maker, structure, relax, vasp_result_job, kind, name)


@dataclass
class MlipBackend:
    model: str = "SevenNet"
    preset: str = "default"

    def check(self, structures: list, dry_run: bool = False) -> None:
        from semcgcnn.pipeline.labelling.mlip import check_mlip

        if dry_run:
            raise LabelError("--dry-run writes VASP input folders: use it with --backend vasp")
        check_mlip(self.model, structures)

    def check_size(self, calculations: list[tuple[str, object, str]]) -> None:
        """Nothing: an ML potential's memory grows with the atoms only (a few GB at thousands)."""

    def calc(self, structure, kind: str, relax: bool, name: str) -> Flow:
        from semcgcnn.pipeline.labelling.mlip import mlip_makers

        relax_maker, static_maker = mlip_makers(self.model, kind, relax_bulk_cell=kind == "bulk")
        return _chain(relax_maker, static_maker, structure, relax, forcefield_result_job, kind, name)


def make_backend(name: str, preset: str = "fast", mlip_model: str = "SevenNet"):
    """The backend called ``name`` (one-line :class:`LabelError` for an unknown name or preset)."""
    if name not in BACKENDS:
        raise LabelError(f"unknown backend {name!r}: choose {', '.join(BACKENDS)}")
    if preset not in PRESETS:
        raise LabelError(f"unknown preset {preset!r}: choose {', '.join(PRESETS)}")
    if name == "gpaw":
        return GpawBackend(preset)
    if name == "vasp":
        return VaspBackend()
    return MlipBackend(mlip_model)
