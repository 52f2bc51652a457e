"""Output documents of the screening jobs (pydantic, atomate2/emmet style; units in field names).

Each job of :class:`~semcgcnn.workflows.screen.maker.ScreeningMaker` returns one of these; jobflow
stores them in the job store (the candidates' structures go to the ``data`` additional store, at
most :data:`CANDIDATES_PER_BLOB` to a document).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from semcgcnn.pipeline.screen.candidates import Candidate

CANDIDATES_PER_BLOB = 8
"""Candidates per document of the job store's ``data`` store (the ``candidates`` of one
:class:`CandidateChunk`): the largest such document holds this many structures, whatever the
size of the screen (a MongoDB document holds at most 16 MiB)."""


class CandidateChunk(BaseModel):
    """Consecutive candidates still to screen; each chunk's ``candidates`` is one ``data`` document."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    candidates: list[Candidate] = Field(description="At most CANDIDATES_PER_BLOB candidates, in order.")


def chunked(candidates: list[Candidate], size: int = CANDIDATES_PER_BLOB) -> list[CandidateChunk]:
    """``candidates`` in consecutive chunks of at most ``size``.

    Args:
        candidates: the candidates, in candidate order.
        size: candidates per chunk (≥ 1).
    """
    return [CandidateChunk(candidates=candidates[i : i + size]) for i in range(0, len(candidates), size)]


class CandidatesDoc(BaseModel):
    """The candidates of a screen, found once; the fan-out job cuts them into batches."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    out_dir: str = Field(description="Screen folder: parts, final tables, manifest.")
    source: str = Field(description="Candidate source label, as in the tables' metadata.")
    model_id: str = Field(description="Id of the model that predicts.")
    parameters: dict = Field(description="ScreenConfig.parameters(): everything that decides the results.")
    compound_ids: list[str] = Field(description="Every candidate, in candidate order (the tables' order).")
    candidate_errors: list[dict] = Field(default_factory=list, description="Error rows of refused inputs.")
    n_already_done: int = Field(
        0, description="Compounds committed by an earlier run of this screen (--resume)."
    )
    todo: list[CandidateChunk] = Field(default_factory=list, description="Candidates to screen, in chunks.")


class CompoundBatchDoc(BaseModel):
    """What one batch job committed to the part store."""

    compound_ids: list[str] = Field(description="The batch's compounds.")
    n_compounds_screened: int = Field(description="Compounds cut, predicted and committed by this job.")
    n_compounds_skipped: int = Field(description="Compounds already committed (an earlier or rerun job).")
    n_slabs: int = Field(description="Slab rows committed by this job.")
    n_error_rows: int = Field(
        description="Error rows committed by this job (slab, prediction, Wulff stages)."
    )
    parts: list[str] = Field(default_factory=list, description="Part folders this job committed.")
    stage_seconds: dict[str, float] = Field(
        default_factory=dict, description="Wall (and slab CPU) time per stage, s."
    )


class ScreenSummaryDoc(BaseModel):
    """The assembled screen: the six Parquet tables and their row counts."""

    out_dir: str = Field(description="Screen folder.")
    model_id: str = Field(description="Id of the model that predicted.")
    n_candidates: int = Field(description="Candidates screened.")
    n_compounds: int = Field(description="Rows of compounds.parquet.")
    n_slabs: int = Field(description="Rows of slabs.parquet.")
    n_error_rows: int = Field(description="Rows of errors.parquet (all stages).")
    table_paths: dict[str, str] = Field(description="Parquet file of each table.")
    table_rows: dict[str, int] = Field(description="Row count of each table.")
    stage_seconds: dict[str, float] = Field(
        default_factory=dict, description="Summed batch-job stage times, s."
    )


class LabelSetDoc(BaseModel):
    """What a :class:`~semcgcnn.workflows.labelling.maker.SurfacePropertyMaker` Flow produced: one row
    per labelled slab (``semcgcnn.schema.SCHEMAS["labels"]``: γ in eV/Å² and J/m², Φ in eV) and
    one error row (stage, id, reason) per slab that could not be labelled."""

    bulk_id: str = Field(description="Id of the bulk crystal whose slabs were labelled.")
    backend: str = Field(description="gpaw, vasp or mlip.")
    preset: str = Field(description="The backend's settings preset.")
    rows: list[dict] = Field(default_factory=list, description="Rows of labels.parquet.")
    errors: list[dict] = Field(default_factory=list, description="Rows of errors.parquet.")
    table_paths: dict[str, str] = Field(
        default_factory=dict, description="labels/errors Parquet files, if written."
    )
