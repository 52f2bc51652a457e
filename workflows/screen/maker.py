"""``ScreeningMaker``: the screen as an atomate2-style jobflow Maker.

``ScreeningMaker(config=ScreenConfig(elements=("Al",), limit=20)).make(out)`` returns a :class:`jobflow.Flow`:
candidates → fan-out into batch jobs (slabs, predictions, Wulff; each commits one part) → one
job that writes the same six Parquet tables as ``semcgcnn screen``. What decides the results is
its ``config``, a :class:`~semcgcnn.pipeline.screen.config.ScreenConfig`; the other fields say how
the work is cut into jobs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from jobflow import Flow, Maker

from semcgcnn.pipeline.screen.config import BATCH_SIZE, ScreenConfig
from semcgcnn.pipeline.slabs import SlabConfig

from .jobs import assemble_job, find_candidates_job, screen_batches_job


@dataclass
class ScreeningMaker(Maker):
    """Screen Mg compounds into Parquet tables, as a jobflow Flow.

    ``config``: the screen (its elements are kept sorted, as the tables' metadata records them).
    ``job_size`` compounds make one batch job (``None``: ``batch_size``), which commits them in
    parts of ``batch_size`` as their slabs finish on ``workers`` processes (1: none, the right
    choice under a workflow manager that gives each job one core)."""

    name: str = "semcgcnn screen"
    config: ScreenConfig = field(default_factory=ScreenConfig)
    batch_size: int = BATCH_SIZE
    job_size: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        """Accept the plain JSON that ``as_dict`` writes (a maker stored in a job store, a
        FireWorks spec or a jobflow-remote database comes back as dicts and lists)."""
        cfg = self.config
        if isinstance(cfg, dict):
            cfg = ScreenConfig.from_parameters({k: v for k, v in cfg.items() if not k.startswith("@")})
        elif isinstance(cfg.slab, dict):
            cfg = replace(cfg, slab=SlabConfig.from_plain(cfg.slab))
        self.config = replace(cfg, elements=tuple(sorted(cfg.elements)))

    def make(self, out: str | Path, resume: bool = False) -> Flow:
        """The screen into folder ``out`` (absolute path; ``resume``: continue a screen there)."""
        params, out, run_id = self.config.parameters(), str(Path(out).resolve()), str(uuid.uuid4())
        found = find_candidates_job(params, out, resume, run_id)
        found.name = "find candidates"
        fan_out = screen_batches_job(
            out, found.output.n_todo, params, self.job_size or self.batch_size, self.batch_size, self.workers
        )
        fan_out.name = "screen in batches"
        tables = assemble_job(found.output, fan_out.output)
        tables.name = "assemble tables"
        return Flow([found, fan_out, tables], output=tables.output, name=self.name)
