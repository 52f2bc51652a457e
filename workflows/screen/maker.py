"""``ScreeningMaker``: the screen as an atomate2-style jobflow Maker.

``ScreeningMaker(elements=("Al",), limit=20).make(out)`` returns a :class:`jobflow.Flow`:
candidates → fan-out into batch jobs (slabs, predictions, Wulff; each commits one part) → one
job that writes the same six Parquet tables as ``semcgcnn screen``. Its fields mirror
:class:`~semcgcnn.pipeline.screen.config.ScreenConfig`, whose defaults they take.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from jobflow import Flow, Maker

from semcgcnn.pipeline.screen.config import BATCH_SIZE, ScreenConfig
from semcgcnn.pipeline.slabs import SlabConfig

from .jobs import assemble_job, find_candidates_job, screen_batches_job

_DEFAULT = ScreenConfig()


@dataclass
class ScreeningMaker(Maker):
    """Screen Mg compounds into Parquet tables, as a jobflow Flow.

    ``job_size`` compounds make one batch job (``None``: ``batch_size``), which commits them in
    parts of ``batch_size`` as their slabs finish on ``workers`` processes (1: none, the right
    choice under a workflow manager that gives each job one core)."""

    name: str = "semcgcnn screen"
    source: str = _DEFAULT.source
    structures: str | None = _DEFAULT.structures
    elements: tuple[str, ...] = _DEFAULT.elements
    max_atoms: int | None = _DEFAULT.max_atoms
    limit: int | None = _DEFAULT.limit
    e_above_hull: float = _DEFAULT.e_above_hull
    model: str | None = _DEFAULT.model
    slab: SlabConfig = field(default_factory=SlabConfig)
    mlip_prior: bool = _DEFAULT.mlip_prior  # the ML-potential prior on γ (pipeline.mlip_prior)
    batch_size: int = BATCH_SIZE
    job_size: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        """Accept the plain JSON that ``as_dict`` writes (a maker stored in a job store, a
        FireWorks spec or a jobflow-remote database comes back as dicts and lists)."""
        self.elements = tuple(self.elements)
        if isinstance(self.slab, dict):
            self.slab = SlabConfig.from_plain(self.slab)

    @classmethod
    def from_config(cls, cfg: ScreenConfig, **kwargs) -> ScreeningMaker:
        """A maker for the screen ``cfg`` describes (``kwargs``: batch_size, job_size, workers, name)."""
        return cls(source=cfg.source, structures=cfg.structures, elements=tuple(cfg.elements),
                   max_atoms=cfg.max_atoms, limit=cfg.limit, e_above_hull=cfg.e_above_hull, model=cfg.model,
                   slab=cfg.slab, mlip_prior=cfg.mlip_prior, **kwargs)

    def config(self) -> ScreenConfig:
        """The :class:`ScreenConfig` of this maker (what the tables' metadata records)."""
        return ScreenConfig(source=self.source, structures=self.structures, elements=tuple(sorted(self.elements)),
                            max_atoms=self.max_atoms, limit=self.limit, e_above_hull=self.e_above_hull,
                            model=self.model, slab=self.slab, mlip_prior=self.mlip_prior)

    def make(self, out: str | Path, resume: bool = False) -> Flow:
        """The screen into folder ``out`` (absolute path; ``resume``: continue a screen there)."""
        params, out, run_id = self.config().parameters(), str(Path(out).resolve()), str(uuid.uuid4())
        found = find_candidates_job(params, out, resume, run_id)
        found.name = "find candidates"
        fan_out = screen_batches_job(found.output.todo, params, out, self.job_size or self.batch_size,
                                     self.batch_size, self.workers)
        fan_out.name = "screen in batches"
        tables = assemble_job(found.output, fan_out.output)
        tables.name = "assemble tables"
        return Flow([found, fan_out, tables], output=tables.output, name=self.name)
