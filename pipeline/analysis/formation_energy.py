"""Formation energies (eV/atom) of screened compounds, from one named source:

* ``mp``: the Materials Project API (``formation_energy_per_atom`` of the summary, MP2020-corrected
  GGA/GGA+U), only with ``MP_API_KEY`` set and for compounds with an ``mp-…`` id.
* ``mlip``: offline, the universal ML potential SevenNet 7net-0 (the project's ``mlip`` extra; its
  weights ship in its wheel): single points of the compound's bulk cell as screened and of each
  element's shipped reference (``elemental_refs``: the lowest-energy MP-PBE polymorph), so the
  formation energy is 7net-0-consistent, ΔE_f = [E(compound) − Σ_el N_el E_el/atom] / N.
* ``shipped``: the shipped MP table (``mg_binary_bulk``) is the matcalc elasticity subset and holds
  no formation energies, so this source is refused with a one-line reason.
* ``auto``: ``mp`` when a key is set (MLIP for compounds without an MP id), else ``mlip``.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from semcgcnn.errors import UserError

if TYPE_CHECKING:
    from pymatgen.core import Structure

log = logging.getLogger(__name__)

SOURCE_NAMES = {"mp": "Materials Project API", "mlip": "SevenNet 7net-0 (MLIP, shipped elemental refs)"}
MP_ID = re.compile(r"^mp-\d+$")


class FormationEnergyError(UserError):
    """A source the user must change (one line)."""


@dataclass(frozen=True)
class FormationEnergy:
    eV_per_atom: float
    source: str
    reason: str = ""


def resolve_source(source: str, api_key: str | None = None) -> str:
    """``mp`` or ``mlip`` for a requested source, or a one-line FormationEnergyError."""
    key = api_key or os.environ.get("MP_API_KEY")
    if source == "auto":
        return "mp" if key else "mlip"
    if source == "mp" and not key:
        raise FormationEnergyError("--source mp needs a Materials Project API key: set MP_API_KEY")
    if source == "shipped":
        raise FormationEnergyError(
            "the shipped MP table (matcalc elasticity subset, mg_binary_bulk) holds no "
            "formation energies: use --source mlip (offline) or mp (needs MP_API_KEY)"
        )
    if source not in ("mp", "mlip"):
        raise FormationEnergyError(f"unknown source {source!r}: choose auto, mp, shipped or mlip")
    if source == "mlip" and importlib.util.find_spec("sevenn") is None:
        from semcgcnn.pipeline.labelling.mlip import INSTALL_HINT

        raise FormationEnergyError(
            f"offline formation energies need the SevenNet ML potential: {INSTALL_HINT} "
            "(or set MP_API_KEY for --source mp)"
        )
    return source


def mp_formation_energies(material_ids: list[str], api_key: str | None = None) -> dict[str, FormationEnergy]:
    """Materials Project formation energies of the ``mp-…`` ids (others absent from the result)."""
    ids = [m for m in material_ids if MP_ID.match(m)]
    if not ids:
        return {}
    from mp_api.client import MPRester

    try:
        with warnings.catch_warnings(), MPRester(api_key or os.environ.get("MP_API_KEY")) as mpr:
            warnings.simplefilter("ignore")
            docs = mpr.materials.summary.search(
                material_ids=ids, fields=["material_id", "formation_energy_per_atom"]
            )
    except Exception as exc:  # noqa: BLE001 - network, authentication, server errors
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FormationEnergyError(
            f"could not query the Materials Project (network or API key): {msg}"
        ) from None
    out = {}
    for d in docs:
        e = d.formation_energy_per_atom
        out[str(d.material_id)] = FormationEnergy(
            float(e) if e is not None else math.nan,
            SOURCE_NAMES["mp"],
            "" if e is not None else "MP has no formation energy",
        )
    return out


def mlip_formation_energy(structure: Structure) -> FormationEnergy:
    """7net-0 formation energy of the bulk ``structure`` against 7net-0 energies of the shipped
    elemental references; NaN with a reason outside the model's elements or the references."""
    from semcgcnn.pipeline.labelling.calc import LabelError
    from semcgcnn.pipeline.labelling.mlip import (
        DEFAULT_MLIP,
        check_mlip,
        mlip_energy_per_atom,
        mlip_reference_energy,
    )
    from semcgcnn.pipeline.labelling.references import reference_elements

    name = SOURCE_NAMES["mlip"]
    try:
        check_mlip(DEFAULT_MLIP, [structure])
    except LabelError as exc:
        return FormationEnergy(math.nan, name, str(exc))
    comp = structure.composition
    missing = sorted(el.symbol for el in comp.elements if el.symbol not in reference_elements())
    if missing:
        return FormationEnergy(math.nan, name, f"no shipped elemental reference for {', '.join(missing)}")
    e_refs = sum(n * mlip_reference_energy(el.symbol) for el, n in comp.items())
    return FormationEnergy((mlip_energy_per_atom(structure) * comp.num_atoms - e_refs) / comp.num_atoms, name)


def formation_energies(
    structures: Mapping[str, object],
    source: str,
    api_key: str | None = None,
    advance: Callable[..., None] | None = None,
) -> dict[str, FormationEnergy]:
    """Formation energy of each ``{compound_id: bulk structure}`` from ``source`` (``mp``/``mlip``,
    after :func:`resolve_source`); with ``mp``, compounds without an MP id fall back to the MLIP."""
    out = mp_formation_energies(list(structures), api_key) if source == "mp" else {}
    for cid, s in structures.items():
        if cid not in out:
            out[cid] = mlip_formation_energy(s)
        if advance is not None:
            advance()
    return out
