"""One GPAW calculation, run by an interpreter that can import gpaw (not necessarily the package's):

    [mpirun -np N] python _gpaw_runner.py input.json

Standalone on purpose: it imports only the standard library, numpy, ase and gpaw (Debian's GPAW
22.8 lives in /usr/bin/python3 with numpy 1.x, which cannot share a process with pymatgen on
numpy 2), so :mod:`semcgcnn.pipeline.labelling.gpaw` talks to it through plain files. Works with
GPAW 22.8 / ASE 3.22 and GPAW 2x / ASE 3.2x.

input.json: cell (3x3 Å, rows), positions (Nx3 Cartesian Å), numbers, pbc, fixed (per atom),
kind ("bulk" | "slab"), calc (ecut_eV, xc, smearing_eV, kpts, convergence, maxiter, dipole),
relax (relax, fmax, steps, cell), output (file name). It runs in the current folder: GPAW's log
goes to gpaw.txt, the optimiser's to relax.log, a slab's 3D electrostatic potential (eV) to
potential_3d.npy and the results to the output JSON (written atomically, by rank 0 only).
A slab with a dipole correction is made non-periodic along c, with c perpendicular to the
surface and the middle of its vacuum at the cell boundary (cartesian positions unchanged up to a
shift along c); the output cell and positions are in that frame. On failure: exit status 1 and
one line on stderr, "gpaw runner: <reason>". Every rank exits when its parent process dies.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # never evaluated: the system python only needs the standard library here
    from ase import Atoms
    from gpaw import GPAW

# This folder holds the package's own gpaw.py: drop it from the path before `import gpaw`.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np  # noqa: E402


def _world():
    from gpaw.mpi import world

    return world


def _orthogonal_slab(atoms: Atoms) -> float:
    """c along the surface normal, vacuum middle at fractional c = 0 (needed by the dipole layer)."""
    cell = np.array(atoms.get_cell())
    normal = np.cross(cell[0], cell[1])
    normal /= np.linalg.norm(normal)
    cell[2] = normal * float(np.dot(cell[2], normal))
    pos = atoms.get_positions()
    height = float(np.dot(cell[2], normal))
    z = (pos @ normal / height) % 1.0
    order = np.sort(z)
    gaps = np.diff(np.concatenate([order, [order[0] + 1.0]]))
    i = int(np.argmax(gaps))
    middle = (order[i] + gaps[i] / 2.0) % 1.0  # middle of the vacuum, fractional along the normal
    z = (z - middle) % 1.0  # vacuum middle -> 0
    in_plane = pos - np.outer(pos @ normal, normal)
    pos = in_plane + np.outer(z * height, normal)
    # GPAW's dipole layer wants c along Cartesian z and a, b in the xy plane (exactly): rotate into
    # the frame a along x, normal along z (a rotation: energies and the potential along c unchanged)
    e1 = cell[0] / np.linalg.norm(cell[0])
    frame = np.array([e1, np.cross(normal, e1), normal])  # rows: new x, y, z axes
    cell = cell @ frame.T
    cell[0, 1:] = 0.0
    cell[1, 2] = 0.0
    cell[2, :2] = 0.0
    atoms.set_cell(cell, scale_atoms=False)
    atoms.set_positions(pos @ frame.T)
    atoms.pbc = [True, True, False]
    return float(gaps[i] * height)


def _calculator(c: dict, kind: str) -> GPAW:
    from gpaw import GPAW, PW, FermiDirac

    kw = dict(
        mode=PW(c["ecut_eV"]),
        xc=c["xc"],
        occupations=FermiDirac(c["smearing_eV"]),
        kpts={"size": list(c["kpts"]), "gamma": True},
        txt="gpaw.txt",
    )
    if c.get("convergence"):
        kw["convergence"] = dict(c["convergence"])
    if c.get("maxiter"):
        kw["maxiter"] = int(c["maxiter"])
    if kind == "slab" and c.get("dipole", True):
        kw["poissonsolver"] = {"dipolelayer": "xy"}
    return GPAW(**kw)


def _relax(atoms: Atoms, r: dict, kind: str) -> tuple[int, bool]:
    """BFGS (with the cell for a bulk when asked); returns (steps, converged)."""
    from ase.optimize import BFGS

    target = atoms
    if kind == "bulk" and r.get("cell"):
        try:  # ASE >= 3.23
            from ase.filters import FrechetCellFilter as CellFilter
        except ImportError:  # ASE 3.22
            from ase.constraints import ExpCellFilter as CellFilter
        target = CellFilter(atoms)
    opt = BFGS(target, logfile="relax.log")
    converged = opt.run(fmax=float(r["fmax"]), steps=int(r["steps"]))
    steps = int(getattr(opt, "nsteps", 0) or opt.get_number_of_steps())
    if converged is None:  # very old ASE: run() returns nothing
        converged = bool(opt.converged()) if hasattr(opt, "converged") else True
    return steps, bool(converged)


def run(inp: dict) -> dict:
    import ase
    import gpaw
    from ase import Atoms
    from ase.constraints import FixAtoms

    t0 = time.time()
    kind = inp["kind"]
    if kind not in ("bulk", "slab"):
        raise ValueError(f"kind must be bulk or slab, not {kind!r}")
    atoms = Atoms(numbers=inp["numbers"], positions=inp["positions"], cell=inp["cell"], pbc=inp["pbc"])
    c = inp["calc"]
    vacuum = None
    if kind == "slab" and c.get("dipole", True):
        vacuum = _orthogonal_slab(atoms)
    fixed = [i for i, f in enumerate(inp.get("fixed") or []) if f]
    if fixed:
        atoms.set_constraint(FixAtoms(indices=fixed))
    atoms.calc = _calculator(c, kind)

    r = inp.get("relax") or {}
    steps, converged = 0, True
    if r.get("relax"):
        steps, converged = _relax(atoms, r, kind)
    energy = float(atoms.get_potential_energy())  # GPAW: smearing extrapolated to 0 K
    out = {
        "energy_eV": energy,
        "cell": np.array(atoms.get_cell()).tolist(),
        "positions": atoms.get_positions().tolist(),
        "pbc": [bool(p) for p in atoms.pbc],
        "n_ionic_steps": steps,
        "relax_converged": converged,
        "fermi_eV": None,
        "potential_z_eV": None,
        "vacuum_A": vacuum,
        "gpaw_version": gpaw.__version__,
        "ase_version": ase.__version__,
        "n_ranks": int(_world().size),
    }
    try:
        out["fermi_eV"] = float(atoms.calc.get_fermi_level())
    except Exception:  # noqa: BLE001 - e.g. fixed magnetic moment: two Fermi levels; not needed for a bulk
        if kind == "slab":
            raise
    if kind == "slab":
        v = np.asarray(atoms.calc.get_electrostatic_potential())  # eV, all ranks get the full array
        if _world().rank == 0:
            np.save("potential_3d.npy", v)
        vz = v.mean(axis=(0, 1))
        if not atoms.pbc[2]:
            # a non-periodic axis has no point at c = 0 (GPAW's zero boundary); its grid is
            # (i + 1) / N, i < N - 1: add c = 0 (vacuum middle) so the grid is i / N, i < N
            vz = np.concatenate([[vz[0]], vz])
        out["potential_z_eV"] = vz.tolist()
    out["wall_s"] = time.time() - t0
    return out


def _write_atomic(path: str, data: dict) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def _maxiter(path: str) -> object:
    try:
        with open(path) as fh:
            return json.load(fh)["calc"].get("maxiter")
    except Exception:  # noqa: BLE001
        return "?"


def _exit_with_parent(poll_s: float = 0.5) -> None:
    """Exit when the process that started this one dies (mpirun, or the caller in a serial run):
    a rank is mpirun's child, which the caller's kill -9 does not reach; this thread polls the
    parent id, which changes to an adopter's when the parent goes."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    if parent != 1:
        threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str]) -> int:
    _exit_with_parent()
    if len(argv) != 2:
        print("gpaw runner: usage: _gpaw_runner.py input.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1]) as fh:
            inp = json.load(fh)
        out = run(inp)
        if _world().rank == 0:
            _write_atomic(inp.get("output", "out.json"), out)
        return 0
    except BaseException as e:  # noqa: BLE001 - any failure: one line for the caller
        msg = " ".join(str(e).split()) or "no message"
        if type(e).__name__ == "KohnShamConvergenceError":  # GPAW's own text is often empty or odd
            msg = f"SCF did not converge (maxiter {_maxiter(argv[1])}; GPAW says: {msg})"
        try:
            rank = _world().rank
        except Exception:  # noqa: BLE001
            rank = 0
        if rank == 0:
            sys.stderr.write(f"gpaw runner: {type(e).__name__}: {msg}\n")
            sys.stderr.flush()
        return 1


if __name__ == "__main__":
    code = main(sys.argv)
    if code:
        # under MPI a failing rank must not leave the others waiting in a collective
        try:
            world = _world()
            if world.size > 1:
                world.abort(code)
        except Exception:  # noqa: BLE001
            pass
    sys.exit(code)
