"""Output documents of the screening jobs (pydantic, atomate2/emmet style; units in field names).

Each job of :class:`~semcgcnn.workflows.screen.maker.ScreeningMaker` returns one of these; jobflow
stores them in the job store. No document holds the candidates themselves: they travel as files
in the screen folder (:mod:`semcgcnn.workflows.screen.handoff`), so every document stays the same
size whatever the number of candidates.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class CandidatesDoc(BaseModel):
    """The candidates of a screen, found once and written to the screen folder's to-do files."""

    out_dir: str = Field(description="Screen folder: parts, to-do files, final tables, manifest.")
    source: str = Field(description="Candidate source label, as in the tables' metadata.")
    model_id: str = Field(description="Id of the model that predicts.")
    parameters: dict = Field(description="ScreenConfig.parameters(): everything that decides the results.")
    n_candidates: int = Field(description="Every candidate (order and ids: the to-do index file).")
    n_candidate_errors: int = Field(0, description="Refused inputs (their rows: the to-do index file).")
    n_already_done: int = Field(
        0, description="Compounds committed by an earlier run of this screen (--resume)."
    )
    n_todo: int = Field(0, description="Candidates to screen (the to-do files, in candidate order).")


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
