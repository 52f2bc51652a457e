"""Universal ML-potential backend: SevenNet 7net-0 (:data:`DEFAULT_MLIP`) or CHGNet 0.3.0, run by
atomate2's force-field Makers (built in :mod:`semcgcnn.workflows.labelling.forcefield`). Both ship
their weights in the wheel, so they run offline; neither has electrons, so an ML-potential label
has a surface energy and no work function (``fermi_eV`` None).

* :data:`MLIP_MODELS`, :func:`mlip_spec`, :data:`RELAX_FMAX`, :data:`RELAX_STEPS`: each model's
  settings and the relaxation's, as data.
* :func:`check_mlip`: before anything runs, a one-line :class:`~.calc.LabelError` when the package
  is missing or a structure holds an element outside the model's training set.
* :func:`calc_result_from_forcefield_doc`: atomate2's ``ForceFieldTaskDocument`` as a
  :class:`~.calc.CalcResult`.
* :func:`mlip_energy_per_atom`, :func:`mlip_reference_energy`: 7net-0 single points in this
  process (one cached calculator), for formation energies and the screen's prior.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .calc import CalcResult, LabelError
from .references import LOWEST_ENERGY, elemental_reference

if TYPE_CHECKING:
    from pymatgen.core import Structure

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'sem-cgcnn[mlip]'"

#: name -> how atomate2 builds it: ``force_field_name`` (atomate2's MLFF), ``calculator_kwargs``,
#: the Python package it needs, and the model's label for the method line.
MLIP_MODELS: dict[str, dict] = {
    "SevenNet": {
        "force_field_name": "SevenNet",
        "calculator_kwargs": {"model": "7net-0", "device": "cpu"},
        "package": "sevenn",
        "model": "7net-0 (11Jul2024, MPtrj, PBE(+U))",
    },
    "CHGNet": {
        "force_field_name": "CHGNet",
        "calculator_kwargs": {"use_device": "cpu"},  # CHGNetCalculator loads 0.3.0 by default
        "package": "chgnet",
        "model": "0.3.0 (MPtrj, PBE(+U))",
    },
}
DEFAULT_MLIP = "SevenNet"
RELAX_FMAX = 0.02  # eV/Å, the paper's EDIFFG
RELAX_STEPS = 300


def mlip_spec(name: str) -> dict:
    """The :data:`MLIP_MODELS` entry of ``name`` (one-line LabelError for an unknown model)."""
    if name not in MLIP_MODELS:
        raise LabelError(f"unknown ML potential {name!r}: choose one of {', '.join(MLIP_MODELS)}")
    return MLIP_MODELS[name]


@functools.cache
def model_elements(name: str) -> frozenset[str] | None:
    """The elements the model was trained on, read from the model itself; None where this module
    cannot read them (then no element check is made, and a log line says so)."""
    if name == "SevenNet":
        from sevenn.util import load_checkpoint, pretrained_name_to_path

        cp = load_checkpoint(pretrained_name_to_path(MLIP_MODELS[name]["calculator_kwargs"]["model"]))
        return frozenset(cp.config["chemical_species"])
    return None


def check_mlip(name: str, structures: Iterable[Structure] = ()) -> None:
    """One-line LabelError before anything runs: unknown model ``name`` (a :data:`MLIP_MODELS`
    name), its package not installed, or an element of ``structures`` (those to be labelled)
    outside the model's elements (where the model lists them)."""
    spec = mlip_spec(name)
    if importlib.util.find_spec(spec["package"]) is None:
        raise LabelError(f"the {name} ML potential needs the {spec['package']} package: {INSTALL_HINT}")
    allowed = model_elements(name)
    if allowed is None:
        log.info("%s: the model's element list is not read here, so no element check", name)
        return
    for s in structures:
        outside = sorted({el.symbol for el in s.composition.elements} - allowed)
        if outside:
            raise LabelError(
                f"{s.composition.reduced_formula}: {', '.join(outside)} outside the elements "
                f"{name} {spec['calculator_kwargs'].get('model') or ''} was trained on".replace("  ", " ")
            )


def mlip_name(force_field_name: str) -> str:
    """The :data:`MLIP_MODELS` name of an atomate2 ``force_field_name`` (``"MLFF.SevenNet"`` or
    ``"SevenNet"``: ``"SevenNet"``); the name without ``MLFF.`` for a model not listed here."""
    ff = str(force_field_name).removeprefix("MLFF.")
    return next((k for k, v in MLIP_MODELS.items() if v["force_field_name"] == ff), ff)


def _get(obj: object, key: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def calc_result_from_forcefield_doc(doc: object, kind: str) -> CalcResult:
    """atomate2's ``ForceFieldTaskDocument`` ``doc`` (object or its dict) as a CalcResult of
    ``kind`` (``"bulk"`` or ``"slab"``): final energy and structure, no Fermi level or potential
    (no electrons), the steps taken."""
    from pymatgen.core import Structure

    out = _get(doc, "output")
    inp = _get(doc, "input")
    struct = _get(out, "structure") or _get(doc, "structure")
    if isinstance(struct, dict):
        struct = Structure.from_dict(struct)
    if struct is None or _get(out, "energy") is None:
        raise LabelError("the force-field task document has no final structure or energy")
    name = mlip_name(_get(doc, "forcefield_name") or "") or "ML potential"
    version = str(_get(doc, "forcefield_version") or "")
    steps = int(_get(inp, "steps") or 1)
    relax_cell = bool(_get(inp, "relax_cell"))
    fmax = (_get(inp, "relax_kwargs") or {}).get("fmax")
    model = MLIP_MODELS.get(name, {}).get("model", "")
    what = (
        "single point"
        if steps <= 1
        else (f"relaxed to fmax {fmax} eV/Å" + (" with the cell" if relax_cell else ", cell fixed"))
    )
    method = f"{name} {version} model {model}, {what}".replace("  ", " ")
    s = struct.copy()
    settings = {
        "force_field": name,
        "model": model,
        "steps": steps,
        "relax_cell": relax_cell,
        "fmax_eV_per_A": fmax,
    }
    return CalcResult(
        kind=kind,
        energy_eV=float(_get(out, "energy")),
        n_atoms=len(s),
        structure=s.as_dict(),
        code=name,
        code_version=version,
        method=method,
        settings=settings,
        fermi_eV=None,
        potential_z_eV=None,
        n_ionic_steps=int(_get(out, "n_steps") or 0),
        wall_s=float(_get(out, "elapsed_time") or 0.0),
        dir_name=str(_get(doc, "dir_name") or ""),
    )


# ---- 7net-0 single points outside a Flow (formation energies, the screen's prior) ----


@functools.lru_cache(maxsize=1)
def _calculator():
    from sevenn.calculator import SevenNetCalculator

    with warnings.catch_warnings():  # "no tensor product accelerator": expected on a CPU
        warnings.simplefilter("ignore")
        return SevenNetCalculator(MLIP_MODELS[DEFAULT_MLIP]["calculator_kwargs"]["model"], device="cpu")


def mlip_energy_per_atom(structure: Structure) -> float:
    """7net-0 single-point energy of ``structure``, eV/atom."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = _calculator()
    return float(atoms.get_potential_energy()) / len(atoms)


@functools.cache
def mlip_reference_energy(element: str) -> float:
    """7net-0 energy per atom of the element's shipped reference structure, by the
    :data:`~.references.LOWEST_ENERGY` rule of :func:`~.references.elemental_reference` (the
    lowest-energy MP-PBE polymorph of ``elemental_refs``)."""
    return mlip_energy_per_atom(elemental_reference(element, rule=LOWEST_ENERGY))
