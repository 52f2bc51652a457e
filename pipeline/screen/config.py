"""What decides a screen's results, defined once: the screen's configuration and its defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from semcgcnn.pipeline.slabs import SlabConfig

from .candidates import DEFAULT_E_ABOVE_HULL_EV


@dataclass(frozen=True)
class ScreenConfig:
    """Everything that decides a screen's results (recorded in the tables' metadata)."""

    source: str = "bundled"
    structures: str | None = None
    elements: tuple[str, ...] = ()
    max_atoms: int | None = None
    limit: int | None = None
    e_above_hull: float = DEFAULT_E_ABOVE_HULL_EV  # --source mp only: the query's bound (recorded there only)
    model: str | None = None
    slab: SlabConfig = field(default_factory=SlabConfig)
    mlip_prior: bool = False  # blend γ with the ML-potential prior (pipeline.mlip_prior; ≈ 20× slower)
    max_elements: int = 2  # --source mp: most elements per compound (3: ternaries too)

    def parameters(self) -> dict:
        """Plain JSON of every field that decides the results (the manifest and each table's
        provenance). ``e_above_hull`` only where it filters, a Materials Project query: the bundled
        set and structure files are not filtered by it (their hull distance is the tables'
        ``e_above_hull_eV_per_atom`` column and the ``trust`` bound of ``pipeline.screen.stability``)."""
        d = asdict(self)
        if not self.queries_mp:
            d.pop("e_above_hull")
        if not self.mlip_prior:  # absent unless used: manifests of screens without it stay as they were
            d.pop("mlip_prior")
        if self.max_elements == 2:  # likewise
            d.pop("max_elements")
        d["elements"] = list(self.elements)
        d["slab"] = self.slab.as_dict()
        d["slab"]["retry_thickness_factors"] = list(self.slab.retry_thickness_factors)
        return d

    @property
    def queries_mp(self) -> bool:
        """Are the candidates a Materials Project query (structure files take precedence)?"""
        return self.source == "mp" and self.structures is None

    @classmethod
    def from_parameters(cls, params: dict) -> ScreenConfig:
        """The configuration that :meth:`parameters` wrote (a jobflow job's plain-JSON input)."""
        return cls(
            **{
                **params,
                "elements": tuple(params.get("elements", ())),
                "slab": SlabConfig.from_plain(params.get("slab", {})),
            }
        )

    def with_slab(self, **slab_fields) -> ScreenConfig:
        """A copy with some slab parameters changed."""
        return replace(self, slab=replace(self.slab, **slab_fields))


BATCH_SIZE = 8
"""Compounds per committed part of a screen (a killed run loses at most one batch of work)."""
