"""How slabs are cut (:class:`SlabConfig`, the one place its defaults live) and what comes back
for one compound (:class:`SlabResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from monty.json import MSONable

# Not SlabConfig fields (those are recorded in the run metadata, which these must not change):
MAX_EXTRA_LAYERS = 2  # oriented cells added when symmetrising leaves a slab thinner than asked
ANGLE_TOLERANCE = 5.0  # degrees; spglib's (and pymatgen's SpacegroupAnalyzer's) default


@dataclass(frozen=True)
class SlabConfig:
    """How slabs are cut; every field is recorded in the output metadata."""

    max_index: int = 1
    min_slab_size_A: float = 10.0
    min_vacuum_size_A: float = 15.0
    center: bool = True
    symmetrize: bool = True
    primitive: bool = True
    tol: float = 0.1  # pymatgen: primitive-cell and StructureMatcher tolerance
    ftol: float = 0.1  # pymatgen: plane clustering (Å)
    slab_symprec: float = 0.1  # pymatgen Slab.is_symmetric default
    bulk_symprec: float = 0.1  # conventional standard cell (Materials Project setting)
    retry_thickness_factors: tuple[float, ...] = (1.5, 2.0)  # thicker slabs for lost terminations

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_plain(cls, d: dict) -> SlabConfig:
        """The config that :meth:`as_dict` wrote, after JSON (lists back to tuples; ``@`` keys ignored)."""
        fields = {k: v for k, v in d.items() if not k.startswith("@")}
        if "retry_thickness_factors" in fields:
            fields["retry_thickness_factors"] = tuple(fields["retry_thickness_factors"])
        return cls(**fields)


@dataclass
class SlabResult(MSONable):
    """Slabs of one compound: rows (plain values and lists) and error rows. MSONable and made of
    JSON values, so a jobflow job can return it as it is."""

    compound_id: str
    spacegroup_symbol: str = ""
    spacegroup_number: int = 0
    n_miller: int = 0
    lattice: list[list[float]] | None = (
        None  # conventional standard cell (Å, rows a, b, c), for the Wulff shape
    )
    slabs: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
