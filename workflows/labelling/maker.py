"""``SurfacePropertyMaker``: DFT (or ML-potential) surface labels of a bulk crystal as a jobflow Flow.

``SurfacePropertyMaker.from_backend("gpaw", "fast", miller=(0, 0, 1)).make(bulk, "mp-153")``
returns a Flow: bulk calculation (its relax Maker first where it has one) → for every termination
of the facets that the screen's slab stage cuts (symmetric where possible): slab relaxation with
the interior fixed (paper §2.1: atoms more than 3 Å from either surface stay at bulk positions) and
a final run with the electrostatic potential → one ``labels`` row per slab (γ with its
chemical-potential convention, Φ of both faces) → a :class:`~.schemas.LabelSetDoc`. A
non-stoichiometric slab adds one calculation of the rich element's ground state
(``rich_element``, the Mg-rich limit by default; :mod:`semcgcnn.pipeline.labelling.surface`).

The steps are Makers, as in atomate2: ``bulk_relax_maker``/``bulk_static_maker`` and
``slab_relax_maker``/``slab_static_maker`` are GPAW (:mod:`.gpaw`), VASP (atomate2's
``RelaxMaker``/``StaticMaker``, :mod:`.vasp`) or force-field (:mod:`.forcefield`) Makers of one
backend; :func:`~.backends.backend_makers` configures each backend's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobflow import Flow, Job, Maker

from semcgcnn.pipeline.labelling.calc import LabelError
from semcgcnn.pipeline.labelling.mlip import DEFAULT_MLIP
from semcgcnn.pipeline.labelling.references import HCP_MG, elemental_reference
from semcgcnn.pipeline.labelling.slabs import label_slabs, with_fixed_interior
from semcgcnn.pipeline.labelling.surface import needs_rich_reference
from semcgcnn.pipeline.slabs import SlabConfig

from .backends import (
    backend_makers,
    backend_of,
    check_makers,
    check_size,
    mlip_model_of,
    preset_of,
    result_job,
)
from .gpaw import GpawRelaxMaker, GpawStaticMaker
from .jobs import collect_labels_job, label_row_job, recut_slab_job

if TYPE_CHECKING:
    from jobflow import OutputReference
    from pymatgen.core import Structure


def calculation(
    relax_maker: Maker | None,
    static_maker: Maker | None,
    structure: Structure | OutputReference,
    kind: str,
    name: str,
) -> Job | Flow:
    """One calculation of a ``kind`` (``"bulk"`` or ``"slab"``) ``structure`` (or the reference to
    a job's output structure): relax (``relax_maker``,
    optional) → single point on the relaxed structure (``static_maker``, optional) → the job turning
    the last step's output into a CalcResult (:func:`~.backends.result_job`). A GPAW step is one
    job, whose output is the CalcResult, returned as it is and named ``name``; otherwise one Flow
    named ``name`` whose output is the CalcResult."""
    jobs = []
    for maker, step in ((relax_maker, "relax"), (static_maker, "static")):
        if maker is not None:
            j = maker.make(structure if not jobs else jobs[-1].output.structure)
            j.name = f"{name} {step}"
            jobs.append(j)
    reader = result_job(static_maker or relax_maker)
    if reader is None:  # GPAW: one job (see SurfacePropertyMaker)
        jobs[0].name = name
        return jobs[0]
    parse = reader(jobs[-1].output, kind)
    parse.name = f"{name} result"
    return Flow([*jobs, parse], output=parse.output, name=name)


@dataclass
class SurfacePropertyMaker(Maker):
    """Label the slabs of one bulk crystal with its step Makers (see the module note): each of
    the bulk and the slab steps has a relax Maker, a static Maker or both (GPAW: one of the two,
    as its relaxation ends with the single point of the relaxed structure)."""

    name: str = "surface properties"
    bulk_relax_maker: Maker | None = None  # None: the bulk is not relaxed
    bulk_static_maker: Maker | None = field(default_factory=lambda: GpawStaticMaker(kind="bulk"))
    slab_relax_maker: Maker | None = field(default_factory=lambda: GpawRelaxMaker(kind="slab"))
    slab_static_maker: Maker | None = None  # None: the relax Maker's result is the slab's (GPAW)
    miller: tuple[int, int, int] | None = None  # one facet; None: every distinct index up to max_index
    max_index: int = 1
    rich_element: str = "Mg"
    slab: SlabConfig = field(default_factory=SlabConfig)

    def __post_init__(self) -> None:
        if self.miller is not None:
            self.miller = tuple(int(x) for x in self.miller)
        if isinstance(self.slab, dict):
            self.slab = SlabConfig.from_plain(self.slab)
        steps = {
            "bulk": (self.bulk_relax_maker, self.bulk_static_maker),
            "slab": (self.slab_relax_maker, self.slab_static_maker),
        }
        for kind, (relax, static) in steps.items():
            if relax is None and static is None:
                raise LabelError(f"the {kind} step needs a relax Maker, a static Maker or both")
        backend = backend_of(self.step_makers())  # one backend for every step
        for kind, (relax, static) in steps.items():
            if backend == "gpaw" and relax is not None and static is not None:
                raise LabelError(
                    f"the GPAW {kind} step takes one Maker: its relaxation ends with the "
                    "single point of the relaxed structure"
                )

    @classmethod
    def from_backend(
        cls,
        backend: str = "gpaw",
        preset: str = "fast",
        relax_bulk: bool = False,
        relax_slabs: bool = True,
        mlip_model: str = DEFAULT_MLIP,
        **fields,
    ) -> SurfacePropertyMaker:
        """The maker whose steps are ``backend``'s Makers (:func:`~.backends.backend_makers`: its
        arguments ``backend``, ``preset``, ``relax_bulk``, ``relax_slabs``, ``mlip_model``).

        Parameters
        ----------
        fields
            The other fields: ``name``, ``miller``, ``max_index``, ``rich_element``, ``slab``.
        """
        return cls(**backend_makers(backend, preset, relax_bulk, relax_slabs, mlip_model), **fields)

    def step_makers(self) -> list[Maker]:
        """The step Makers that are set (bulk relax, bulk static, slab relax, slab static)."""
        return [
            m
            for m in (
                self.bulk_relax_maker,
                self.bulk_static_maker,
                self.slab_relax_maker,
                self.slab_static_maker,
            )
            if m is not None
        ]

    @property
    def backend(self) -> str:
        """``gpaw``, ``vasp`` or ``mlip``: the step Makers' backend."""
        return backend_of(self.step_makers())

    @property
    def preset(self) -> str:
        """The step Makers' preset (GPAW's; ``default`` for VASP and the ML potential)."""
        return preset_of(self.step_makers())

    @property
    def relax_bulk(self) -> bool:
        return self.bulk_relax_maker is not None

    @property
    def relax_slabs(self) -> bool:
        return self.slab_relax_maker is not None

    def check(self, structures: list, dry_run: bool = False) -> None:
        """One-line LabelError before any job exists when the steps' backend cannot calculate
        ``structures`` or (``dry_run``) write a dry run (:func:`~.backends.check_makers`)."""
        check_makers(self.step_makers(), structures, dry_run)

    def check_size(self, calculations: list[tuple[str, Structure, str]]) -> None:
        """One-line LabelError when a ``(name, structure, kind)`` calculation cannot fit in this
        machine's memory (:func:`~.backends.check_size`)."""
        check_size(self.step_makers(), calculations)

    def estimate_seconds(self, calculations: list[tuple[str, Structure, str]]) -> list[float] | None:
        """Estimated wall time on this machine of each ``(name, structure, kind)`` calculation
        with this maker's relaxations (GPAW: :func:`~semcgcnn.pipeline.labelling.gpaw.estimate_seconds`);
        None for a backend without an estimate (VASP runs elsewhere; an ML potential takes seconds)."""
        if self.backend != "gpaw":
            return None
        from semcgcnn.pipeline.labelling.gpaw import estimate_seconds

        relax = {"bulk": self.relax_bulk, "slab": self.relax_slabs}
        return [estimate_seconds(s, kind, self.preset, relax[kind]) for _, s, kind in calculations]

    def slabs(self, bulk: Structure, bulk_id: str) -> tuple[list[tuple[dict, object]], list[dict]]:
        """The slabs this maker labels (``[(slab-stage row, slab)]``) and the slab stage's error rows
        (``bulk``: the bulk structure; ``bulk_id``: the id the rows carry)."""
        return label_slabs(bulk, bulk_id, [self.miller] if self.miller else None, self.max_index, self.slab)

    def rich_reference(self, bulk: Structure, cut: list[tuple[dict, object]]) -> Structure | None:
        """The reference structure of ``rich_element`` (the :data:`HCP_MG` rule of
        :func:`~semcgcnn.pipeline.labelling.references.elemental_reference`) when a slab of ``cut``
        is non-stoichiometric against ``bulk``; else None (no reference calculation)."""
        if any(needs_rich_reference(s.composition, bulk.composition) for _, s in cut):
            return elemental_reference(self.rich_element, rule=HCP_MG)
        return None

    def meta(self, bulk_id: str) -> dict:
        return {
            "bulk_id": bulk_id,
            "backend": self.backend,
            "preset": self.preset,
            "relax_bulk": self.relax_bulk,
            "relax_slabs": self.relax_slabs,
            "rich_element": self.rich_element,
        }

    def parameters(self) -> dict:
        """Every setting, as plain JSON (what the tables' provenance records): the name, the steps'
        backend, preset, relaxations and ML potential (:func:`~.backends.mlip_model_of`), the
        facets, the rich element and the slab parameters."""
        return json.loads(
            json.dumps(
                {
                    "name": self.name,
                    "backend": self.backend,
                    "preset": self.preset,
                    "miller": self.miller,
                    "max_index": self.max_index,
                    "relax_bulk": self.relax_bulk,
                    "relax_slabs": self.relax_slabs,
                    "rich_element": self.rich_element,
                    "mlip_model": mlip_model_of(self.step_makers()),
                    "slab": asdict(self.slab),
                },
                default=list,
            )
        )

    def make(
        self,
        bulk: Structure,
        bulk_id: str = "bulk",
        out: str | Path | None = None,
        slabs: tuple[list, list[dict]] | None = None,
    ) -> Flow:
        """The Flow labelling ``bulk``'s slabs (``bulk_id``: the id its rows carry); with ``out``
        (a folder every worker sees), its last job writes ``out/labels.parquet`` and
        ``out/errors.parquet``. ``slabs``: what :meth:`slabs` returned for this bulk, if the caller
        has it already."""
        meta = self.meta(bulk_id)
        cut, slab_errors = slabs if slabs is not None else self.slabs(bulk, bulk_id)
        bulk_calc = calculation(
            self.bulk_relax_maker, self.bulk_static_maker, bulk, "bulk", f"{bulk_id} bulk"
        )
        jobs, results = [bulk_calc], []
        ref = None
        if (reference := self.rich_reference(bulk, cut)) is not None:
            ref = calculation(
                self.bulk_relax_maker,
                self.bulk_static_maker,
                reference,
                "bulk",
                f"{self.rich_element} reference",
            )
            jobs.append(ref)
        for row, slab in cut:
            sid = row["slab_id"]
            if self.relax_bulk:  # cut again from the relaxed bulk, same termination
                recut = recut_slab_job(
                    bulk_calc.output,
                    bulk_id,
                    [row["miller_h"], row["miller_k"], row["miller_l"]],
                    row["termination_index"],
                    asdict(self.slab),
                )
                recut.name = f"{sid} cut"
                jobs.append(recut)
                slab_in, structure = recut.output, recut.output["structure"]
            else:
                slab_in, structure = row, with_fixed_interior(slab.get_sorted_structure())
            calc = calculation(self.slab_relax_maker, self.slab_static_maker, structure, "slab", sid)
            label = label_row_job(
                sid, slab_in, calc.output, bulk_calc.output, ref.output if ref else None, meta
            )
            label.name = f"{sid} label"
            jobs += [calc, label]
            results.append(label.output)
        done = collect_labels_job(
            results, slab_errors, meta, str(Path(out).resolve()) if out else None, self.parameters()
        )
        done.name = "collect labels"
        return Flow([*jobs, done], output=done.output, name=f"{self.name} {bulk_id}")
