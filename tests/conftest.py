"""Shared fixtures: real structures from the shipped datasets, and the command line."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from cli_runner import run_cli

# A test run started in the background of a non-interactive shell (`cmd &`, nohup) inherits SIGINT
# ignored, and so would every semcgcnn it starts, which then cannot be interrupted as a terminal's
# Ctrl-C interrupts it: the signal tests need the disposition a user's shell gives a command.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def cli():
    """``cli(*args, env=None, timeout=600, **kw)``: run the installed ``semcgcnn *args`` to
    completion as a user would (200 columns, no Materials Project key; ``env``: variables added) and
    return the :class:`subprocess.CompletedProcess` (see :func:`cli_runner.run_cli`)."""
    return run_cli


@pytest.fixture(scope="session")
def elemental():
    from semcgcnn.datasets import load

    return {r.structure_id: r for r in load("elemental_slabs")}


@pytest.fixture(scope="session")
def mg_records():
    from semcgcnn.datasets import load

    return load("mg_binary_slabs")


@pytest.fixture(scope="session")
def mg_small():
    """GraphTensors of 160 real Mg slabs (every 20th), with both targets, and their systems."""
    import numpy as np

    from semcgcnn.datasets import labels
    from semcgcnn.model.data import GraphTensors
    from semcgcnn.model.graphs import dataset_graphs

    df = labels("mg_binary_slabs")
    gs, _ = dataset_graphs("mg_binary_slabs")
    idx = np.arange(0, len(gs), 20)
    y = df[["surface_energy_eV_per_A2", "work_function_eV"]].to_numpy()[idx]
    return GraphTensors(gs.subset(idx), y), df["chemsys"].to_numpy()[idx]


@pytest.fixture
def bulk_inputs(tmp_path):
    """``bulk_inputs(overlap_name)``: a folder ``tmp_path/in`` of bulk inputs for a screen (see
    :func:`_write_bulk_inputs`)."""
    return lambda overlap_name: _write_bulk_inputs(tmp_path / "in", overlap_name)


def _write_bulk_inputs(folder: Path, overlap_name: str) -> Path:
    """Real hcp Mg (the shipped elemental reference Mg-3), an unreadable ``broken.cif`` and two Mg
    atoms 0.16 Å apart (``overlap_name``)."""
    from pymatgen.core import Lattice, Structure

    from semcgcnn.datasets import load

    folder.mkdir(parents=True)
    (mg,) = [r.structure for r in load("elemental_refs") if r.structure_id == "Mg-3"]
    (folder / "hcp_Mg.json").write_text(mg.to_json())
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 3.2\nthis is not a CIF loop\n")
    Structure(Lattice.cubic(3.2), ["Mg", "Mg"], [[0, 0, 0], [0.05, 0, 0]]).to(
        filename=str(folder / overlap_name)
    )
    return folder


@pytest.fixture(scope="session")
def small_screen(tmp_path_factory) -> Path:
    """A real `semcgcnn screen` of the first 4 shipped binaries (two Ac–Mg, two Mg–Ag; one worker),
    shared by the dissolution and report tests. Each test that writes into it works on a copy."""
    out = tmp_path_factory.mktemp("small_screen") / "screen"
    res = run_cli("screen", "--limit", "4", "--workers", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def mixed_screen(tmp_path_factory) -> Path:
    """A real `semcgcnn screen` of the 13 shipped Mg–Al, –Cl, –P, –S and –Se binaries of ≤ 10 sites
    (one worker, ≈ 10 s): three trusted intermetallics (MgAl ×2, MgAl3), ionic MgCl2 and MgS (out of
    domain) and semiconductor/Zintl Mg3P2, MgP4 (trusted) and MgSe, for the compound-class tests.
    Its printed summary lies beside it, in ``summary.txt``. Each test that writes into it works on a copy."""
    out = tmp_path_factory.mktemp("mixed_screen") / "screen"
    res = run_cli(
        "screen", "--elements", "Al,Cl,P,S,Se", "--max-atoms", "10", "--workers", "1", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    (out.parent / "summary.txt").write_text(res.stdout, encoding="utf-8")  # what it printed
    return out


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory):
    """A real MongoDB wire-protocol server on 127.0.0.1 for the whole session (``tests/mongo_server.py``:
    SecantusDB as a separate process, stopped by its PID at the end). Skips where it is not
    installed, fails instead under ``SEMCGCNN_REQUIRE_BACKENDS=1``."""
    from backends_required import REQUIRED
    from mongo_server import ServerError, server_binary, start_server

    if server_binary() is None and not REQUIRED:
        pytest.skip("no MongoDB test server (pip install 'sem-cgcnn[test]' installs secantusdb)")
    try:
        server = start_server(tmp_path_factory.mktemp("mongo_server"))
    except ServerError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def mongo_db(mongo_server, request) -> str:
    """A database name of its own for each test on :func:`mongo_server` (dropped afterwards)."""
    import re
    import uuid

    name = f"t_{re.sub(r'[^A-Za-z0-9_]', '_', request.node.name)[:40]}_{uuid.uuid4().hex[:8]}"
    yield name
    with mongo_server.client() as client:
        client.drop_database(name)


@pytest.fixture(scope="session")
def plain_al_screen(tmp_path_factory) -> Path:
    """The plain ``semcgcnn screen`` of ``screen_reference.AL_SCREEN`` (4 Al–Mg compounds), the
    reference of the FireWorks, jobflow-remote and job-store tests."""
    from screen_reference import plain_screen

    return plain_screen(tmp_path_factory.mktemp("plain_al") / "screen")


@pytest.fixture(scope="session")
def hcp_mg_file(tmp_path_factory) -> Path:
    """hcp Mg (a = 3.21 Å, c = 5.21 Å, P6₃/mmc), built with pymatgen, as a JSON structure file."""
    from pymatgen.core import Lattice, Structure

    path = tmp_path_factory.mktemp("bulk") / "Mg.json"
    mg = Structure(Lattice.hexagonal(3.21, 5.21), ["Mg", "Mg"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
    path.write_text(mg.to_json())
    return path


@pytest.fixture(scope="session")
def mg_cli_labels(hcp_mg_file, tmp_path_factory) -> Path:
    """The folder of ``semcgcnn label`` on :func:`hcp_mg_file` with ``screen_reference.LABEL``
    (GPAW fast, Mg (0001)): the tables the label Flow and ``label collect`` must reproduce."""
    from backends_required import REQUIRED, have_gpaw
    from screen_reference import LABEL, semcgcnn

    if not have_gpaw() and not REQUIRED:
        pytest.skip("GPAW not installed (apt-get install -y gpaw gpaw-data)")
    out = tmp_path_factory.mktemp("mg_labels") / "labels"
    res = semcgcnn("label", str(hcp_mg_file), *LABEL, "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def hcp_mg():
    """Real hcp Mg: the shipped Materials Project entry Mg-3 (2 sites, P6₃/mmc), the labels' Mg reference."""
    from semcgcnn.pipeline.labelling.references import elemental_reference

    return elemental_reference("Mg")


@pytest.fixture(scope="session")
def mg_mp_bulk():
    """A real Mg–X bulk of the shipped Materials Project set with non-stoichiometric slabs: Mg2Si."""
    from semcgcnn.datasets import load

    return next(
        r.structure for r in load("mg_binary_bulk") if r.structure.composition.reduced_formula == "Mg2Si"
    )
