"""The ML-potential steps as atomate2 pieces: ``ForceFieldRelaxMaker``/``ForceFieldStaticMaker``
with the settings of :mod:`semcgcnn.pipeline.labelling.mlip`.

A slab relax keeps the cell and honours the slab's ``selective_dynamics`` (pymatgen's
``AseAtomsAdaptor`` turns it into ASE ``FixAtoms``, which atomate2's relaxer keeps: tested); a
bulk relax may also relax the cell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from semcgcnn.pipeline.labelling.calc import LabelError
from semcgcnn.pipeline.labelling.mlip import DEFAULT_MLIP, RELAX_FMAX, RELAX_STEPS, mlip_spec

if TYPE_CHECKING:
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker


def mlip_makers(
    name: str = DEFAULT_MLIP, kind: str = "slab", relax_bulk_cell: bool = False
) -> tuple[ForceFieldRelaxMaker, ForceFieldStaticMaker]:
    """(relax Maker, static Maker) of the ML potential ``name`` for a ``"bulk"`` or ``"slab"``:
    atomate2's ``ForceFieldRelaxMaker``/``ForceFieldStaticMaker``. The relax keeps the cell (slab,
    or a bulk unless ``relax_bulk_cell``), stops at max force < 0.02 eV/Å (paper's EDIFFG) or 300
    steps, and keeps atoms fixed by ``selective_dynamics``."""
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker

    if kind not in ("bulk", "slab"):
        raise LabelError(f"kind must be 'bulk' or 'slab', not {kind!r}")
    spec = mlip_spec(name)
    kw = dict(spec["calculator_kwargs"])  # atomate2 pads them with its defaults
    relax = ForceFieldRelaxMaker(
        name=f"{name} {kind} relax",
        force_field_name=spec["force_field_name"],
        relax_cell=bool(relax_bulk_cell and kind == "bulk"),
        steps=RELAX_STEPS,
        relax_kwargs={"fmax": RELAX_FMAX},
        calculator_kwargs=kw,
    )
    static = ForceFieldStaticMaker(
        name=f"{name} {kind} static", force_field_name=spec["force_field_name"], calculator_kwargs=kw
    )
    return relax, static
