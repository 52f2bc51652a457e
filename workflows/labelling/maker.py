"""``SurfacePropertyMaker``: DFT (or ML-potential) surface labels of a bulk crystal as a jobflow Flow.

``SurfacePropertyMaker(backend="gpaw", miller=(0, 0, 1)).make(bulk, "mp-153")`` returns a Flow:
bulk calculation (relaxed if ``relax_bulk``) → for every termination of the facets that the
screen's slab stage cuts (symmetric where possible): slab relaxation with the interior fixed
(paper §2.1: atoms more than 3 Å from either surface stay at bulk positions) and a final run
with the electrostatic potential → one ``labels`` row per slab (γ with its chemical-potential
convention, Φ of both faces) → a :class:`~.schemas.LabelSetDoc`. A non-stoichiometric slab adds
one calculation of the rich element's ground state (``rich_element``, the Mg-rich limit by
default; :mod:`semcgcnn.pipeline.labelling.surface`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jobflow import Flow, Maker

from semcgcnn.pipeline.labelling.references import elemental_reference
from semcgcnn.pipeline.labelling.slabs import label_slabs, with_fixed_interior
from semcgcnn.pipeline.labelling.surface import needs_rich_reference
from semcgcnn.pipeline.slabs import SlabConfig

from .backends import make_backend
from .jobs import collect_labels_job, label_row_job, recut_slab_job


@dataclass
class SurfacePropertyMaker(Maker):
    """Label the slabs of one bulk crystal with ``backend`` (gpaw, vasp or mlip)."""

    name: str = "surface properties"
    backend: str = "gpaw"
    preset: str = "fast"
    miller: tuple[int, int, int] | None = None  # one facet; None: every distinct index up to max_index
    max_index: int = 1
    relax_bulk: bool = False
    relax_slabs: bool = True
    rich_element: str = "Mg"
    mlip_model: str = "SevenNet"
    slab: SlabConfig = field(default_factory=SlabConfig)

    def __post_init__(self) -> None:
        if self.miller is not None:
            self.miller = tuple(int(x) for x in self.miller)
        if isinstance(self.slab, dict):
            self.slab = SlabConfig.from_plain(self.slab)

    def backend_impl(self):
        return make_backend(self.backend, self.preset, self.mlip_model)

    def slabs(self, bulk, bulk_id: str) -> tuple[list[tuple[dict, object]], list[dict]]:
        """The slabs this maker labels (``[(slab-stage row, slab)]``) and the slab stage's error rows."""
        return label_slabs(bulk, bulk_id, [self.miller] if self.miller else None, self.max_index, self.slab)

    def meta(self, bulk_id: str) -> dict:
        return {"bulk_id": bulk_id, "backend": self.backend, "preset": self.backend_impl().preset,
                "relax_bulk": self.relax_bulk, "relax_slabs": self.relax_slabs, "rich_element": self.rich_element}

    def parameters(self) -> dict:
        """Every field, as plain JSON (what the tables' provenance records)."""
        return json.loads(json.dumps(asdict(self), default=list))

    def make(self, bulk, bulk_id: str = "bulk", out: str | Path | None = None,
             slabs: tuple[list, list[dict]] | None = None) -> Flow:
        """The Flow labelling ``bulk``'s slabs; with ``out`` (a folder every worker sees), its
        last job writes ``out/labels.parquet`` and ``out/errors.parquet``. ``slabs``: what
        :meth:`slabs` returned for this bulk, if the caller has it already."""
        backend, meta = self.backend_impl(), self.meta(bulk_id)
        cut, slab_errors = slabs if slabs is not None else self.slabs(bulk, bulk_id)
        bulk_calc = backend.calc(bulk, "bulk", self.relax_bulk, f"{bulk_id} bulk")
        jobs, results = [bulk_calc], []
        ref = None
        if any(needs_rich_reference(s.composition, bulk.composition) for _, s in cut):
            ref = backend.calc(elemental_reference(self.rich_element), "bulk", self.relax_bulk,
                               f"{self.rich_element} reference")
            jobs.append(ref)
        for row, slab in cut:
            sid = row["slab_id"]
            if self.relax_bulk:  # cut again from the relaxed bulk, same termination
                recut = recut_slab_job(bulk_calc.output, bulk_id, [row["miller_h"], row["miller_k"], row["miller_l"]],
                                       row["termination_index"], asdict(self.slab))
                recut.name = f"{sid} cut"
                jobs.append(recut)
                slab_in, structure = recut.output, recut.output["structure"]
            else:
                slab_in, structure = row, with_fixed_interior(slab.get_sorted_structure())
            calc = backend.calc(structure, "slab", self.relax_slabs, sid)
            label = label_row_job(sid, slab_in, calc.output, bulk_calc.output, ref.output if ref else None, meta)
            label.name = f"{sid} label"
            jobs += [calc, label]
            results.append(label.output)
        done = collect_labels_job(results, slab_errors, meta, str(Path(out).resolve()) if out else None,
                                  self.parameters())
        done.name = "collect labels"
        return Flow([*jobs, done], output=done.output, name=f"{self.name} {bulk_id}")
