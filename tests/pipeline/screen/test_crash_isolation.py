"""A slab worker that dies (a segfault in a C extension, an out-of-memory kill) costs its compound,
never the screen: the compound becomes an error row naming the signal, under both engines, with
any number of workers, and after ``--resume``.

Two real ways to kill a worker: a bulk with a NaN coordinate (spglib segfaults on it; once the
structure check rejects NaN before spglib, the compound is a ``candidates`` error row instead, which
these tests accept), and a SIGKILL sent by the test to the worker process while it cuts a compound's
slabs. The worker is found as the screen's child process and known to be busy once it has used CPU
time (an idle worker waits on a pipe, using none); with one worker, compounds are cut largest first,
so the compound it holds is the largest one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import run_cli
from processes import children, cpu_seconds

SEMCGCNN = str(Path(sys.executable).with_name("semcgcnn"))
ENV = {**os.environ, "COLUMNS": "200"}
ENV.pop("MP_API_KEY", None)
SMALL = ("mp-1039019", "mp-1039141")  # two 2-atom Mg-Al cells, about a second of slabs each
LARGE = "mp-2151"  # Mg17Al12, 29 atoms: about 1.5 s of CPU for its slabs, cut first (largest cell)


def _write_bulks(folder: Path, ids: tuple[str, ...], nan: bool = False) -> Path:
    """Bundled bulks ``ids`` as pymatgen JSON files in ``folder`` (plus ``nan_Mg.json``, hcp Mg with
    a NaN coordinate, when ``nan``)."""
    from semcgcnn.datasets import load
    from semcgcnn.pipeline.screen.candidates import screen_candidates

    folder.mkdir(parents=True)
    found = {c.compound_id: c for c in screen_candidates("bundled", elements=["Al"]).candidates}
    for cid in ids:
        (folder / f"{cid}.json").write_text(found[cid].structure.to_json())
    if nan:
        (mg,) = [r.structure for r in load("elemental_refs") if r.structure_id == "Mg-3"]
        doc = json.loads(mg.to_json())
        doc["sites"][0]["abc"] = [float("nan"), 0.0, 0.0]
        doc["sites"][0].pop("xyz", None)
        (folder / "nan_Mg.json").write_text(json.dumps(doc))
    return folder


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(out / f"{t}.parquet") for t in ("compounds", "errors", "slabs", "predictions")}


def _assert_nan_compound_is_an_error_row(res: subprocess.CompletedProcess, out: Path) -> None:
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr and "BrokenProcessPool" not in res.stderr
    t = _tables(out)
    compounds = t["compounds"].set_index("compound_id")
    assert set(SMALL) <= set(compounds.index) <= {*SMALL, "nan_Mg"}
    assert (compounds.loc[list(SMALL), "n_slabs"] > 0).all()
    assert set(t["slabs"]["compound_id"]) == set(SMALL)
    rows = t["errors"][t["errors"]["id"].str.startswith("nan_Mg")].set_index("stage")
    if "slabs" in rows.index:  # spglib reached: its segfault is the reason (and no Wulff shape follows)
        assert rows.loc["slabs", "id"] == "nan_Mg", rows
        assert rows.loc["slabs", "reason"] == "worker killed by SIGSEGV while cutting its slabs", rows
        assert "nan_Mg: worker killed by SIGSEGV" in res.stderr
        assert compounds.loc["nan_Mg", "n_slabs"] == 0
    else:  # refused by the structure check before any slab worker
        assert list(rows.index) == ["candidates"], rows


@pytest.mark.parametrize("workers, engine", [(2, "plain"), (1, "plain"), (1, "jobflow")])
def test_a_segfaulting_compound_is_an_error_row_and_the_screen_goes_on(tmp_path, workers, engine):
    inputs = _write_bulks(tmp_path / "in", SMALL, nan=True)
    out = tmp_path / "out"
    res = run_cli(
        "screen",
        "--structures",
        str(inputs),
        "--workers",
        str(workers),
        "--engine",
        engine,
        "--out",
        str(out),
    )
    _assert_nan_compound_is_an_error_row(res, out)


def _kill_busy_worker(proc: subprocess.Popen, sig: int, timeout: float = 300.0, cpu_s: float = 0.5) -> int:
    """Send ``sig`` to ``proc``'s worker once it has used ``cpu_s`` of CPU: the forked worker starts
    near 0 and cuts the largest cell first, so it is inside LARGE's slabs (≈ 1.5 s of CPU; the
    27-atom Mg13Al14 used before took 0.47 s, and a kill could land on the next compound)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        busy = [w for w in children(proc.pid) if cpu_seconds(w) > cpu_s]
        if busy:
            os.kill(busy[0], sig)
            return busy[0]
        time.sleep(0.05)
    raise AssertionError(f"no busy worker seen (exit status {proc.poll()})")


@pytest.mark.parametrize("engine", ["plain", "jobflow"])
def test_a_worker_killed_mid_compound_is_an_error_row_and_the_screen_goes_on(tmp_path, engine):
    inputs = _write_bulks(tmp_path / "in", (LARGE, *SMALL))
    out = tmp_path / "out"
    args = ("screen", "--structures", str(inputs), "--workers", "1", "--engine", engine, "--out", str(out))
    proc = subprocess.Popen(
        [SEMCGCNN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    _kill_busy_worker(proc, signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    t = _tables(out)
    assert sorted(t["compounds"]["compound_id"]) == sorted((LARGE, *SMALL))
    errors = t["errors"].set_index("stage")
    assert list(errors["id"]) == [LARGE, LARGE] and list(errors.index) == ["slabs", "wulff"], errors
    reason = "worker killed by SIGKILL (out of memory?) while cutting its slabs"
    assert errors.loc["slabs", "reason"] == reason
    assert set(t["slabs"]["compound_id"]) == set(SMALL)
    assert t["compounds"].set_index("compound_id").loc[list(SMALL), "n_slabs"].gt(0).all()
    assert f"{LARGE}: worker killed by SIGKILL" in err


def test_resume_after_a_kill_finishes_past_the_segfaulting_compound(tmp_path):
    # largest first: the two small Mg-Al cells and then the 2-atom NaN Mg; killed after the first part
    inputs = _write_bulks(tmp_path / "in", (LARGE, *SMALL), nan=True)
    out = tmp_path / "out"
    args = ("screen", "--structures", str(inputs), "--workers", "1", "--batch-size", "1", "--out", str(out))
    proc = subprocess.Popen([SEMCGCNN, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list((out / "parts").glob("part-*")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "compounds.parquet").exists(), "the kill did not land mid-run"
    res = run_cli(*args, "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    t = _tables(out)
    assert set(t["slabs"]["compound_id"]) == {LARGE, *SMALL}
    assert t["errors"]["id"].str.startswith("nan_Mg").any()
    again = run_cli(*args, "--resume")  # a resumed finished screen: nothing cut again, same tables
    assert again.returncode == 0, again.stderr[-3000:]
    for name, df in _tables(out).items():
        pd.testing.assert_frame_equal(df, t[name], obj=name)


def test_the_pool_yields_a_crash_as_its_items_outcome_and_keeps_going():
    from semcgcnn.parallel import as_completed_map

    got = sorted(as_completed_map(_die_on_three, range(6), workers=2, on_crash=lambda item, why: (item, why)))
    assert got == [(0, 0), (1, 1), (2, 4), (3, "worker killed by SIGKILL (out of memory?)"), (4, 16), (5, 25)]


def _die_on_three(i: int) -> tuple[int, int]:
    if i == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return i, i * i


def test_workers_left_running_by_an_interrupted_caller_do_not_hang_its_exit(tmp_path):
    # the caller is interrupted while it holds the generator (a traceback keeps it alive): at exit
    # multiprocessing joins its children, which must then already be gone
    script = tmp_path / "caller.py"
    script.write_text(
        "import time\n"
        "from semcgcnn.parallel import as_completed_map\n"
        "kept = as_completed_map(time.sleep, [0.0, 600.0, 600.0], workers=2)\n"
        "next(kept)\n"
        "raise SystemExit(3)\n"
    )
    t0 = time.time()
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=ENV)
    assert res.returncode == 3, res.stderr
    assert time.time() - t0 < 60, "the exit waited for the workers"
