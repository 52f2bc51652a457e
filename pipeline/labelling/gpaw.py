"""GPAW backend: real PAW DFT (PBE, plane waves), run in its own process.

GPAW is called through :mod:`._gpaw_runner`, a standalone script run by an interpreter that can
import gpaw (:func:`gpaw_python`): Debian's ``apt-get install gpaw gpaw-data`` puts GPAW 22.8 in
``/usr/bin/python3`` with numpy 1.x, which cannot share a process with this package (numpy 2).
The two sides exchange plain files in the calculation's folder: ``input.json`` → ``output.json``
(plus GPAW's log ``gpaw.txt``, the optimiser's ``relax.log`` and, for a slab,
``potential_3d.npy``).

:data:`GPAW_PRESETS` is the one place the settings' values live:

* ``fast`` — tests and CI: Mg(0001) surface energy and work function within a few percent of
  the converged PBE values in well under a minute on 2 cores.
* ``default`` — converged labels: PW 450 eV, k-point density 6 Å (14×14 in-plane for hcp Mg),
  forces to 0.02 eV/Å.

k-points (``kpt_density_A``, ASE's ``kptdensity``): along each reciprocal vector b_i (without
2π, rows of inv(cell)ᵀ), n_i = max(1, ⌈2π · density · |b_i|⌉), Γ-centred. For a slab, b_1 and
b_2 are taken with c replaced by the surface normal (the in-plane reciprocal lattice) and
n_3 = 1, so a slab and a bulk whose c is normal to the same a, b get the same in-plane mesh.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semcgcnn.parallel import exits_with_parent_hook

from .calc import CalcResult, LabelError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pymatgen.core import Structure

log = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("_gpaw_runner.py")
INSTALL_HINT = "install GPAW: apt-get install -y gpaw gpaw-data (Debian/Ubuntu), or see README"
SYSTEM_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class GpawSettings:
    """Everything a GPAW label depends on (values: :data:`GPAW_PRESETS`)."""

    ecut_eV: float  # plane-wave cutoff
    kpt_density_A: float  # k-points per Å⁻¹ (2π units), see the module docstring
    xc: str = "PBE"
    smearing_eV: float = 0.1  # Fermi–Dirac width; GPAW's energy is extrapolated to 0 K
    scf_energy_eV: float = 5e-4  # SCF convergence: energy change per valence electron (GPAW's 'energy')
    scf_density: float = 1e-4  # SCF convergence: density change per electron (GPAW's 'density')
    scf_maxiter: int = 333  # SCF iterations before GPAW gives up
    relax_fmax_eV_A: float = 0.05  # BFGS force (and, with the cell, stress·volume) threshold
    relax_max_steps: int = 100
    dipole_correction: bool = True  # slabs: GPAW's dipole layer (slab non-periodic along c)
    mpi_ranks: int = 2  # mpirun ranks (1: serial; capped at the CPU count)
    timeout_s: float | None = None  # wall-clock limit of one run (None: none)

    def as_dict(self) -> dict:
        return asdict(self)


GPAW_PRESETS: dict[str, GpawSettings] = {
    # Mg(0001), 6 layers, a = 3.21 Å (bench/label_gpaw.py): k 10×10(×5), γ 6 % above the reference
    # 0.0318 eV/Å² (PW 300 eV / k 12 gives +6 % too: the rest is PBE vs the reference), work
    # function 3.70 eV; ~25 s for bulk + slab on 2 cores. Coarser k (7×7, 8×8) puts γ 19 % off.
    "fast": GpawSettings(
        ecut_eV=250.0,
        kpt_density_A=4.0,
        smearing_eV=0.1,
        scf_energy_eV=1e-3,
        relax_fmax_eV_A=0.1,
        relax_max_steps=20,
    ),
    # Converged: γ of Mg(0001) moves < 0.1 % from PW 300 to 400 eV (notes: 0.5404 → 0.5409 J/m²);
    # 450 eV leaves margin for harder setups (O, F, transition metals) and for the cell stress.
    # k density 6 Å: 14×14(×8) for hcp Mg, past the 12×12 where γ is converged to ~1 %.
    "default": GpawSettings(
        ecut_eV=450.0,
        kpt_density_A=6.0,
        smearing_eV=0.1,
        scf_energy_eV=5e-4,
        relax_fmax_eV_A=0.02,
        relax_max_steps=200,
    ),
}


# ---------------------------------------------------------------- the GPAW interpreter

_PYTHON: str | None = None
_INFO: dict[str, dict] = {}

_PROBE = r"""
import gzip, json, os, re, sys
import gpaw, ase
paths = [str(p) for p in getattr(gpaw, "setup_paths", [])]
try:
    import gpaw_data  # PyPI gpaw-data: setups inside the package
    root = str(gpaw_data.datapath())
    paths += [root, os.path.join(root, "setups")]
except Exception:
    pass
elements, used, valence = set(), [], {}
for p in dict.fromkeys(os.path.realpath(p) for p in paths):
    if not os.path.isdir(p):
        continue
    matches = (re.match(r"^([A-Z][a-z]?)\.PBE(\.gz)?$", f) for f in os.listdir(p))
    found = [(m.group(1), m.group(0)) for m in matches if m]
    if found:
        used.append(p)
        elements.update(el for el, _ in found)
    for el, f in found:
        if el not in valence:  # the first folder's setup is the one GPAW takes
            try:
                with (gzip.open if f.endswith(".gz") else open)(os.path.join(p, f), "rb") as fh:
                    v = re.search(rb'<atom [^>]*valence="([0-9.]+)"', fh.read(2048))
                if v:
                    valence[el] = float(v.group(1))
            except OSError:
                pass
print(json.dumps({"gpaw": gpaw.__version__, "ase": ase.__version__, "python": sys.executable,
                  "setup_paths": used, "elements": sorted(elements), "valence": valence}))
"""


def _imports_gpaw(python: str) -> bool:
    try:
        r = subprocess.run([python, "-c", "import gpaw"], capture_output=True, timeout=120, env=child_env())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def gpaw_python() -> str:
    """The interpreter that runs GPAW: ``$SEMCGCNN_GPAW_PYTHON``, else ``/usr/bin/python3`` or this
    interpreter, whichever imports gpaw first. A one-line :class:`LabelError` when none does."""
    global _PYTHON
    if _PYTHON is not None:
        return _PYTHON
    env = os.environ.get("SEMCGCNN_GPAW_PYTHON")
    if env:
        if not _imports_gpaw(env):
            raise LabelError(f"SEMCGCNN_GPAW_PYTHON={env} cannot import gpaw; {INSTALL_HINT}")
        _PYTHON = env
        return env
    for python in (SYSTEM_PYTHON, sys.executable):
        if os.path.exists(python) and _imports_gpaw(python):
            _PYTHON = python
            return python
    raise LabelError(f"no Python interpreter here can import gpaw; {INSTALL_HINT}")


def gpaw_info() -> dict:
    """Version, setup folders and elements (with a PBE PAW setup) of the GPAW that
    :func:`gpaw_python` found; asked once per interpreter."""
    python = gpaw_python()
    if python not in _INFO:
        r = subprocess.run(
            [python, "-c", _PROBE], capture_output=True, text=True, timeout=300, env=child_env()
        )
        if r.returncode != 0:
            raise LabelError(f"GPAW in {python} does not start: {_last_line(r.stderr) or 'no message'}")
        _INFO[python] = json.loads(r.stdout.strip().splitlines()[-1])
    return _INFO[python]


def gpaw_elements() -> frozenset[str]:
    """Elements with a PBE PAW setup in the setup folders of the GPAW found."""
    return frozenset(gpaw_info()["elements"])


def check_gpaw(structures: Iterable[Structure]) -> None:
    """A one-line :class:`LabelError` when GPAW is missing or lacks a setup for an element of
    ``structures`` (pymatgen structures), before any run starts."""
    have = gpaw_elements()
    need = sorted({el.symbol for s in structures for el in s.composition.elements})
    missing = [el for el in need if el not in have]
    if missing:
        where = ", ".join(gpaw_info()["setup_paths"]) or "no setup folder"
        raise LabelError(f"GPAW has no PBE PAW setup for {', '.join(missing)} (looked in {where})")


# ---------------------------------------------------------------- k-points


def kpoint_mesh(lattice_matrix: np.ndarray, density_A: float, kind: str) -> tuple[int, int, int]:
    """Γ-centred mesh for a cell (rows a, b, c in Å), see the module docstring."""
    m = np.array(lattice_matrix, dtype=float)
    if kind == "slab":
        normal = np.cross(m[0], m[1])
        m[2] = normal / np.linalg.norm(normal)  # in-plane reciprocal vectors only
    recip = np.linalg.inv(m).T
    n = [max(1, math.ceil(2 * math.pi * density_A * float(np.linalg.norm(b)) - 1e-9)) for b in recip]
    if kind == "slab":
        n[2] = 1
    return n[0], n[1], n[2]


# ---------------------------------------------------------------- size

BYTES_PER_RANK = 135e6
"""A GPAW rank's memory besides its wavefunctions: interpreter, GPAW, setups, the grids of a
small cell. Fitted with :data:`WAVEFUNCTION_FACTOR` to the peak RSS of real runs (fast preset,
2 ranks, GPAW 22.8): the Mg bulk 232 MB (both ranks together; 6 MB of coefficients), the 6-atom
Mg(0001) slab 325 MB (23 MB)."""
WAVEFUNCTION_FACTOR = 2.6
"""Peak memory per byte of plane-wave coefficients (k-points × bands × plane waves × 16 B; the
eigensolver's work arrays, projections, the density mixer come with them). Measured on a 36-atom
Mg bulk (3×3×2 cell, fast preset, k 4×4×3, 2 ranks): GPAW's 17 irreducible k-points × 220 bands
× 7395 plane waves × 16 B = 442 MB of coefficients, 1444 MB peak RSS of both ranks together."""


def plane_waves(structure: Structure, ecut_eV: float) -> int:
    """Plane waves of a cell within the cutoff, V k³ / (6π²) with k = √(2 E) in atomic units
    (GPAW's count for Mg, 428 and 2530, within 5 %)."""
    bohr_A, hartree_eV = 0.52917721, 27.211386
    k = math.sqrt(2.0 * ecut_eV / hartree_eV)
    return math.ceil(structure.volume / bohr_A**3 * k**3 / (6.0 * math.pi**2))


def n_bands(structure: Structure) -> int:
    """GPAW's default number of bands for a smeared (metallic) system, 1.2 N/2 + 4 for N valence
    electrons of its PAW setups (Mg bulk 16, the 6-atom Mg(0001) slab 40, 36 Mg atoms 220); all
    electrons count where GPAW or a setup is missing (the checks that need them come later)."""
    try:
        valence = gpaw_info().get("valence", {})
    except LabelError:
        valence = {}
    n = sum(valence.get(el.symbol, float(el.Z)) * amount for el, amount in structure.composition.items())
    return int(0.6 * n) + 4


def kpoints_time_reversal(mesh: tuple[int, int, int]) -> int:
    """k-points of a Γ-centred ``mesh`` left after time reversal (k and -k one point): an upper
    bound of GPAW's irreducible count, which also uses the point group (the large, low-symmetry
    cells a size check is for rarely have much of one)."""
    total, self_inverse = math.prod(mesh), math.prod(2 if n % 2 == 0 else 1 for n in mesh)
    return (total + self_inverse) // 2


def gpaw_work(structure: Structure, kind: str, settings: GpawSettings) -> int:
    """The plane-wave coefficients of one GPAW run of ``structure`` (a ``"bulk"`` or ``"slab"``):
    k-points after time reversal × bands × plane waves, what its memory and time grow with."""
    mesh = kpoint_mesh(structure.lattice.matrix, settings.kpt_density_A, kind)
    return kpoints_time_reversal(mesh) * n_bands(structure) * plane_waves(structure, settings.ecut_eV)


def estimate_memory_bytes(structure: Structure, kind: str, settings: GpawSettings) -> float:
    """Peak memory (bytes, all ranks together) of one GPAW run: :data:`BYTES_PER_RANK` per MPI
    rank plus :data:`WAVEFUNCTION_FACTOR` × the plane-wave coefficients (:func:`gpaw_work` × 16
    bytes)."""
    coefficients = gpaw_work(structure, kind, settings) * 16
    return mpi_ranks(settings) * BYTES_PER_RANK + WAVEFUNCTION_FACTOR * coefficients


@dataclass(frozen=True)
class CostLaw:
    """GPAW's wall time on the machine it was measured on: ``a · W^p`` seconds for a single point of
    work W (:func:`gpaw_work`) with the fast preset, × ``preset_factor`` of another preset, ×
    ``relax_factor`` of the preset for a relaxation (which ends with the single point)."""

    a: float
    p: float
    preset_factor: dict
    relax_factor: dict
    spread: tuple[float, float]  # measured / fitted, lowest and highest, over the fitted runs
    machine: str


COST_LAW = CostLaw(
    a=2.6214e-10,
    p=1.619,
    preset_factor={"fast": 1.0, "default": 0.209},
    relax_factor={"fast": 1.5, "default": 2.93},
    spread=(0.66, 1.70),
    machine="2 cores, 2 MPI ranks, GPAW 22.8",
)
"""Measured by ``bench/label_cost.py`` (``bench/results/label_cost.json``, its ``constants``): fast
single points of 4 real cells (Mg bulk 3.6 s, Mg(0001) 12.9 s, an 8-atom MgPb3 slab 138 s, a
12-atom Sr2Mg slab 107 s; an 18-atom MgZr2 slab did not finish in 240 s, the law says 326 s); the
default preset's single points of the Mg bulk and slab; relaxed against single-point runs of
Mg(0001). How many SCF iterations and BFGS steps a system needs differs, so one estimate can be
off by the spread (0.66–1.7× on the fitted runs) and more for a slow SCF."""
COST_LIMIT_HOURS = 24.0
"""Above this estimate (one calculation of ``semcgcnn label``; one pick of ``semcgcnn select``:
its bulk and every termination of its facet) the commands refuse unless asked: a day of this
machine. On the default screen it leaves out 473 of 3039 selectable slabs at the default preset
(131 at fast); the median facet takes 2.9 h (default) or 0.56 h (fast)."""


def estimate_seconds(structure: Structure, kind: str, preset_name: str, relax: bool) -> float:
    """Estimated wall time (s, on :data:`COST_LAW`'s machine) of one GPAW run of ``structure`` as a
    ``"bulk"`` or ``"slab"`` with preset ``preset_name``, relaxed first when ``relax``."""
    settings = preset(preset_name)
    law = COST_LAW
    t = law.a * gpaw_work(structure, kind, settings) ** law.p * law.preset_factor.get(preset_name, 1.0)
    return t * (law.relax_factor.get(preset_name, 1.0) if relax else 1.0)


def format_seconds(seconds: float) -> str:
    """``25 s``, ``14 min``, ``3.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def available_memory_bytes() -> int:
    """Memory this machine can give a new run now: ``MemAvailable`` of /proc/meminfo, else all of
    its physical memory (``os.sysconf``)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_size(structures: list[tuple[str, object, str]], settings: GpawSettings | str) -> None:
    """A one-line :class:`LabelError` when a run cannot fit in this machine's memory.

    Args:
        structures: ``(name, structure, kind)`` of each calculation, ``kind`` ``"bulk"`` or ``"slab"``.
        settings: the GPAW settings or the name of a preset.
    """
    if isinstance(settings, str):
        settings = preset(settings)
    free = available_memory_bytes()
    for name, structure, kind in structures:
        need = estimate_memory_bytes(structure, kind, settings)
        if need > free:
            raise LabelError(
                f"{name} {kind}: {len(structure)} atoms, GPAW would need about "
                f"{need / 1e9:.1f} GB of memory and this machine has {free / 1e9:.1f} GB "
                "available; label a smaller cell, or pass --force-size to run it anyway"
            )


# ---------------------------------------------------------------- running


def child_env() -> dict:
    """The environment GPAW runs in: one thread per rank, Open MPI allowed as root and
    oversubscribed, none of this package's Python paths."""
    env = dict(os.environ)
    env.update(
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_rmaps_base_oversubscribe="1",
    )
    env.pop("PYTHONPATH", None)  # the venv's packages (numpy 2) must not leak into GPAW's interpreter
    env.pop("PYTHONHOME", None)
    return env


def mpi_ranks(settings: GpawSettings) -> int:
    """The ranks a run gets: ``settings.mpi_ranks``, capped at the CPU count."""
    return max(1, min(int(settings.mpi_ranks), os.cpu_count() or 1))


def gpaw_launcher(settings: GpawSettings) -> list[str]:
    """The command that runs the runner script here (its path and input file follow): the GPAW
    interpreter, behind ``mpirun -np N`` when ``settings`` asks for several ranks (and GPAW ≥ 23's
    ``gpaw python``, through which PyPI's GPAW takes MPI)."""
    python = gpaw_python()
    ranks = mpi_ranks(settings)
    mpirun = shutil.which("mpirun")
    if ranks == 1 or mpirun is None:
        if ranks > 1:
            log.warning("mpirun not found: GPAW runs serially")
        return [python]
    launcher = [python]
    gpaw_script = Path(python).with_name("gpaw")
    if int(gpaw_info()["gpaw"].split(".")[0]) >= 23 and gpaw_script.exists():
        launcher = [str(gpaw_script), "python"]  # GPAW >= 23 from PyPI: MPI only through `gpaw python`
    return [mpirun, "-np", str(ranks), *launcher]


def _command(settings: GpawSettings, input_name: str) -> list[str]:
    return [*gpaw_launcher(settings), str(RUNNER), input_name]


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid`` (Linux /proc; elsewhere none): a run started with
    ``start_new_session`` is its own session, mpirun's ranks included, whose process groups
    OpenMPI makes their own."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _signal_run(proc: subprocess.Popen, sig: int) -> None:
    """``sig`` to the process group of a run we started and to every process of its session."""
    for pid in (None, *_session(proc.pid)):
        try:
            os.killpg(proc.pid, sig) if pid is None else os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _stop(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """End a run we started: SIGTERM to all of it (mpirun passes it on to the ranks, which OpenMPI
    puts in process groups of their own), SIGKILL to what is still there after ``grace_s``."""
    _signal_run(proc, signal.SIGTERM)
    try:
        proc.communicate(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    _signal_run(proc, signal.SIGKILL)
    proc.communicate()


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("gpaw runner:"):
            return ln[len("gpaw runner:") :].strip()
    noise = ("----", "mpirun", "MPI_ABORT", "NOTE:", "You may", "with errorcode", "*** ", "[")
    meaningful = [ln for ln in lines if not ln.startswith(noise)]
    return (meaningful or lines or [""])[-1]


def _failure(kind: str, workdir: Path, reason: str) -> LabelError:
    reason = " ".join(reason.split())
    if len(reason) > 300:
        reason = reason[:297] + "..."
    return LabelError(f"GPAW {kind} calculation in {workdir} failed: {reason}")


def gpaw_input(
    structure: Structure,
    kind: str,
    settings: GpawSettings,
    relax: bool = True,
    relax_cell: bool = False,
) -> dict:
    """The runner's ``input.json`` of one calculation (see :func:`run_gpaw` for the arguments): the
    cell, atoms and GPAW settings, and a ``record`` of everything :func:`parse_gpaw_dir` needs to
    describe the result without GPAW at hand (the settings, the versions, the setups)."""
    if kind not in ("bulk", "slab"):
        raise LabelError(f"kind must be 'bulk' or 'slab', not {kind!r}")
    if not structure.is_ordered:
        raise LabelError(
            f"{structure.composition.reduced_formula}: GPAW needs an ordered structure "
            "(no partial occupancies)"
        )
    check_gpaw([structure])
    info = gpaw_info()
    kpts = kpoint_mesh(structure.lattice.matrix, settings.kpt_density_A, kind)
    sd = structure.site_properties.get("selective_dynamics")
    fixed = [not any(flags) for flags in sd] if sd is not None and relax else [False] * len(structure)
    record = {k: v for k, v in settings.as_dict().items() if k != "timeout_s"}
    return {
        "kind": kind,
        "cell": np.asarray(structure.lattice.matrix).tolist(),
        "positions": np.asarray(structure.cart_coords).tolist(),
        "numbers": [int(site.specie.Z) for site in structure],
        "pbc": [True, True, True],
        "fixed": fixed,
        "calc": {
            "ecut_eV": settings.ecut_eV,
            "xc": settings.xc,
            "smearing_eV": settings.smearing_eV,
            "kpts": list(kpts),
            "convergence": {"energy": settings.scf_energy_eV, "density": settings.scf_density},
            "maxiter": settings.scf_maxiter,
            "dipole": kind == "slab" and settings.dipole_correction,
        },
        "relax": {
            "relax": bool(relax),
            "fmax": settings.relax_fmax_eV_A,
            "steps": settings.relax_max_steps,
            "cell": bool(relax_cell and kind == "bulk"),
        },
        "output": "output.json",
        "record": {"settings": record, "gpaw_version": info["gpaw"], "setup_paths": info["setup_paths"]},
    }


def run_gpaw(
    structure: Structure,
    kind: str,
    settings: GpawSettings | str = "default",
    workdir: str | os.PathLike = ".",
    relax: bool = True,
    relax_cell: bool = False,
) -> CalcResult:
    """One GPAW calculation of ``structure`` (pymatgen) as a ``"bulk"`` or ``"slab"``, in ``workdir``.

    ``relax``: BFGS on the atoms (a slab's ``selective_dynamics`` site property, as set by
    :func:`.slabs.with_fixed_interior`, fixes the atoms it marks all-False); ``relax_cell``: the
    bulk's cell relaxes too (cut slabs from the relaxed bulk then, so that their in-plane lattice
    matches it; not with ``fast``: at 250 eV the Pulay stress shrinks Mg's a from 3.21 to 3.11 Å).
    A slab gets the Fermi level and the planar-averaged electrostatic potential
    along c; its returned structure is in the frame GPAW used (c along the normal, vacuum middle
    at c = 0), which the potential refers to. Any failure of the run is a one-line
    :class:`LabelError`; the caller's process is never at risk (GPAW runs in a child process).
    The folder holds what :func:`parse_gpaw_dir` reads back."""
    if isinstance(settings, str):
        if settings not in GPAW_PRESETS:
            raise LabelError(f"unknown GPAW preset {settings!r}: choose one of {', '.join(GPAW_PRESETS)}")
        settings = GPAW_PRESETS[settings]
    inp = gpaw_input(structure, kind, settings, relax, relax_cell)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    out_file = workdir / "output.json"
    if out_file.exists():
        out_file.unlink()  # never read a previous run's result
    (workdir / "input.json").write_text(json.dumps(inp))
    cmd = _command(settings, "input.json")
    log.info(
        "GPAW %s %s (%d atoms, k %s) in %s",
        kind,
        structure.composition.reduced_formula,
        len(structure),
        "x".join(map(str, inp["calc"]["kpts"])),
        workdir,
    )
    log.debug("GPAW command: %s", " ".join(cmd))

    t0 = time.time()
    try:  # its own session, so that it can be stopped as a whole; killed by the kernel if we die (kill -9)
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=exits_with_parent_hook(),
        )
    except OSError as e:
        raise _failure(kind, workdir, f"cannot start {cmd[0]}: {e}") from None
    try:
        stdout, stderr = proc.communicate(timeout=settings.timeout_s)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise _failure(kind, workdir, f"no result after {settings.timeout_s:g} s (timeout_s)") from None
    except BaseException:  # Ctrl-C, SIGTERM (semcgcnn.interrupts): the run stops with its caller
        _stop(proc, grace_s=2.0)
        raise
    wall = time.time() - t0
    (workdir / "runner.log").write_text((stdout or "") + (stderr or ""))
    if proc.returncode != 0 or not out_file.exists():
        reason = _last_line(stderr)
        if not reason:
            txt = workdir / "gpaw.txt"
            reason = _last_line(txt.read_text(errors="replace")) if txt.exists() else ""
        status = (
            f"exit status {proc.returncode}"
            if proc.returncode >= 0
            else f"killed by signal {-proc.returncode}"
        )
        raise _failure(kind, workdir, f"{reason} ({status})" if reason else status)
    result = parse_gpaw_dir(workdir, kind, site_properties=structure.site_properties)
    result.wall_s = wall
    return result


def parse_gpaw_dir(folder: str | os.PathLike, kind: str, site_properties: dict | None = None) -> CalcResult:
    """A finished GPAW calculation folder (the runner's ``input.json`` and ``output.json``) as a
    :class:`CalcResult`; needs no GPAW. ``kind``: ``"bulk"`` or ``"slab"`` (a one-line LabelError
    when the folder holds the other); ``site_properties``: given to the final structure (by
    default the fixed atoms' ``selective_dynamics``, if any were fixed)."""
    from pymatgen.core import Element, Lattice, Structure

    folder = Path(folder).resolve()
    try:
        inp = json.loads((folder / "input.json").read_text())
    except (OSError, ValueError) as e:
        raise LabelError(f"{folder}: no readable GPAW input.json ({e})") from None
    out_file = folder / inp.get("output", "output.json")
    if not out_file.exists():
        raise LabelError(f"{folder}: no {out_file.name} (the GPAW run did not finish)")
    try:
        out = json.loads(out_file.read_text())
    except (OSError, ValueError) as e:
        raise _failure(kind, folder, f"unreadable {out_file.name}: {e}") from None
    if inp.get("kind") != kind:
        raise LabelError(f"{folder}: a GPAW {inp.get('kind')} calculation, not a {kind}")
    if site_properties is None and any(inp.get("fixed") or []):
        site_properties = {"selective_dynamics": [[not f] * 3 for f in inp["fixed"]]}
    final = Structure(
        Lattice(out["cell"]),
        [Element.from_Z(z) for z in inp["numbers"]],
        out["positions"],
        coords_are_cartesian=True,
        site_properties=site_properties or {},
        to_unit_cell=True,
    )
    record = inp.get("record") or {}
    settings = record.get("settings") or {}
    calc, relax = inp["calc"], inp["relax"]
    if out.get("relax_converged") is False:
        log.warning(
            "GPAW %s relaxation in %s stopped after %d steps above fmax %g eV/Å",
            kind,
            folder,
            out["n_ionic_steps"],
            relax["fmax"],
        )
    version = out.get("gpaw_version", record.get("gpaw_version", ""))
    kpts = "x".join(map(str, calc["kpts"]))
    method = (
        f"GPAW {version} {calc['xc']} PW {calc['ecut_eV']:g} eV, FD {calc['smearing_eV']:g} eV, k {kpts}"
        + (", dipole correction" if calc["dipole"] else "")
        + (
            f", BFGS to {relax['fmax']:g} eV/Å" + (" with cell" if relax["cell"] else "")
            if relax["relax"]
            else ", fixed geometry"
        )
    )
    details = {
        **settings,
        "kpts": list(calc["kpts"]),
        "relax": bool(relax["relax"]),
        "relax_cell": relax["cell"],
        "n_fixed_atoms": int(sum(inp.get("fixed") or [])),
        "dipole_correction": calc["dipole"],
        "mode": "pw",
        "gpaw_version": version,
        "ase_version": out.get("ase_version"),
        "setup_paths": record.get("setup_paths"),
        "mpi_ranks": out.get("n_ranks"),
        "relax_converged": out.get("relax_converged"),
    }
    return CalcResult(
        kind=kind,
        energy_eV=float(out["energy_eV"]),
        n_atoms=len(final),
        structure=final.as_dict(),
        code="GPAW",
        code_version=version,
        method=method,
        settings=details,
        fermi_eV=out.get("fermi_eV"),
        potential_z_eV=out.get("potential_z_eV") if kind == "slab" else None,
        n_ionic_steps=int(out.get("n_ionic_steps", 0)),
        wall_s=float(out.get("wall_s", 0.0)),
        dir_name=str(folder),
    )


GPAW_RUN_SCRIPT = """#!/usr/bin/env bash
# sem-cgcnn GPAW calculation {name} ({kind}{relax}): GPAW_PYTHON is an interpreter that imports
# gpaw (default python3); GPAW_LAUNCHER an MPI launcher, e.g. "mpirun -np 4" (default: serial).
set -euo pipefail
cd "$(dirname "$0")"
rm -f output.json
${{GPAW_LAUNCHER:-}} ${{GPAW_PYTHON:-python3}} ../{runner} input.json > runner.log 2>&1
"""
RUNNER_COPY = "gpaw_runner.py"
"""The runner's name beside the folders of a GPAW input tree (a plain copy: it needs only GPAW)."""


def write_gpaw_inputs(
    structure: Structure,
    kind: str,
    folder: str | os.PathLike,
    settings: GpawSettings,
    relax: bool = True,
    relax_cell: bool = False,
) -> Path:
    """A GPAW calculation folder to run elsewhere: ``input.json`` (:func:`gpaw_input`, arguments as
    there) and a ``run.sh`` running the runner copied beside the folder (:data:`RUNNER_COPY`);
    once run, the folder is what :func:`parse_gpaw_dir` reads. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    inp = gpaw_input(structure, kind, settings, relax, relax_cell)
    (folder / "input.json").write_text(json.dumps(inp))
    shutil.copyfile(RUNNER, folder.parent / RUNNER_COPY)
    cell = " with cell" if inp["relax"]["cell"] else ""
    steps = f", relax{cell} then single point" if relax else ""
    script = folder / "run.sh"
    script.write_text(GPAW_RUN_SCRIPT.format(name=folder.name, kind=kind, relax=steps, runner=RUNNER_COPY))
    script.chmod(0o755)
    return folder


def preset(name: str, **changes) -> GpawSettings:
    """A preset with some fields changed (``preset("fast", mpi_ranks=1)``)."""
    if name not in GPAW_PRESETS:
        raise LabelError(f"unknown GPAW preset {name!r}: choose one of {', '.join(GPAW_PRESETS)}")
    return replace(GPAW_PRESETS[name], **changes)
