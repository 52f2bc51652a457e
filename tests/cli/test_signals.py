"""Ctrl-C, SIGTERM and kill -9, as a user or a batch system sends them: a screen stops within
seconds (its workers too) and says what it committed; ``semcgcnn label`` leaves no GPAW process
(mpirun and its ranks) running after its own death; a label run too large for this machine's
memory is refused before it starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from backends_required import requires_gpaw
from processes import alive, children, cpu_seconds, wait_for

SEMCGCNN = str(Path(sys.executable).with_name("semcgcnn"))
ENV = {**os.environ, "COLUMNS": "200"}
ENV.pop("MP_API_KEY", None)
HEAVY = ("mp-1990", "mp-1559", "mp-30784")  # Mg3As2, Mg3N2 (40 atoms), Mg2Zn11 (39 atoms)


def _heavy_inputs(folder: Path) -> Path:
    """The three largest bundled cells as files: with facets up to index 2, 15-30 s of slabs each."""
    from semcgcnn.pipeline.screen.candidates import screen_candidates

    folder.mkdir(parents=True)
    found = {c.compound_id: c for c in screen_candidates("bundled").candidates}
    for cid in HEAVY:
        (folder / f"{cid}.json").write_text(found[cid].structure.to_json())
    return folder


def _start(*args: str) -> subprocess.Popen:
    """``semcgcnn args`` in a process group of its own, as a shell runs a foreground job."""
    return subprocess.Popen(
        [SEMCGCNN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )


@pytest.mark.parametrize(
    "sig, code, says", [(signal.SIGINT, 130, "interrupted:"), (signal.SIGTERM, 143, "stopped by SIGTERM:")]
)
def test_a_signal_stops_a_slab_heavy_screen_within_seconds(tmp_path, sig, code, says):
    out = tmp_path / "out"
    proc = _start(
        "screen",
        "--structures",
        str(_heavy_inputs(tmp_path / "in")),
        "--max-index",
        "2",
        "--batch-size",
        "1",
        "--workers",
        "2",
        "--out",
        str(out),
    )
    assert wait_for(
        lambda: proc.poll() is not None or sum(cpu_seconds(w) > 1.0 for w in children(proc.pid)) == 2
    )
    workers = children(proc.pid)
    assert len(workers) == 2, "the workers were not both busy"
    t0 = time.time()
    os.killpg(proc.pid, sig)  # a terminal's Ctrl-C reaches the whole foreground group
    _, err = proc.communicate(timeout=120)
    took = time.time() - t0
    assert proc.returncode == code and "Traceback" not in err, err[-3000:]
    assert took < 5.0, f"{took:.1f} s to stop"
    assert err.count("error:") == 1 and f"{says} 0 compounds committed in {out}" in err, err
    assert wait_for(lambda: not any(alive(w) for w in workers), timeout=5), "workers outlived the stop"


def test_a_sigterm_after_commits_counts_them_and_resume_finishes(tmp_path):
    out = tmp_path / "out"
    args = ("screen", "--limit", "6", "--workers", "1", "--batch-size", "1", "--out", str(out))
    proc = _start(*args)
    assert wait_for(lambda: proc.poll() is not None or len(list((out / "parts").glob("part-*"))) >= 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err[-3000:]
    n = len(list((out / "parts").glob("part-*")))
    assert f"stopped by SIGTERM: {n} compounds committed in {out}" in err and "--resume" in err, err
    res = subprocess.run([SEMCGCNN, *args, "--resume"], capture_output=True, text=True, env=ENV, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


# ---------------------------------------------------------------- semcgcnn label (GPAW)


def _mg_bulk(folder: Path) -> Path:
    from semcgcnn.datasets import load

    (mg,) = [r.structure for r in load("elemental_refs") if r.structure_id == "Mg-3"]
    path = folder / "Mg.json"
    path.write_text(mg.to_json())
    return path


def _gpaw_processes(out: Path) -> list[int]:
    """mpirun and _gpaw_runner processes working in a folder under ``out`` (other runs on this
    machine are left out)."""
    found = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (d / "cmdline").read_bytes()
            cwd = os.readlink(d / "cwd")
        except OSError:
            continue
        if b"_gpaw_runner" in cmd and cwd.startswith(str(out)) and alive(int(d.name)):
            found.append(int(d.name))
    return found


@requires_gpaw
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_no_gpaw_process_outlives_a_killed_label_run(tmp_path, sig):
    out = tmp_path / "out"
    args = (
        "label",
        str(_mg_bulk(tmp_path)),
        "--miller",
        "0",
        "0",
        "1",
        "--backend",
        "gpaw",
        "--preset",
        "fast",
        "--out",
        str(out),
    )
    proc = subprocess.Popen(
        [SEMCGCNN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    assert wait_for(lambda: proc.poll() is not None or len(_gpaw_processes(out)) >= 2, timeout=300), (
        "no GPAW runner started"
    )
    time.sleep(3.0)  # GPAW is well into its calculation
    running = _gpaw_processes(out)
    assert running, "the GPAW run ended before the signal"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert wait_for(lambda: not _gpaw_processes(out), timeout=10), (
        f"GPAW processes {_gpaw_processes(out)} outlived their killed parent"
    )
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        return
    assert proc.returncode == 128 + sig and "Traceback" not in err, err[-3000:]
    assert err.count("error:") == 1 and "labels.parquet not written" in err, err
    assert "0 finished calculations kept in" in err or "1 finished calculation kept in" in err, err


@requires_gpaw
def test_a_label_run_too_large_for_this_machine_is_refused_in_one_line(tmp_path):
    from semcgcnn.datasets import load

    (mg,) = [r.structure for r in load("elemental_refs") if r.structure_id == "Mg-3"]
    big = tmp_path / "Mg300.json"
    big.write_text((mg * (5, 5, 6)).to_json())
    t0 = time.time()
    # the converged (default) preset: about 90 GB by the estimate
    args = ("label", str(big), "--max-index", "1", "--backend", "gpaw", "--out", str(tmp_path / "out"))
    res = subprocess.run([SEMCGCNN, *args], capture_output=True, text=True, env=ENV, timeout=600)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.stderr.count("error:") == 1 and "Mg300 bulk: 300 atoms" in res.stderr, res.stderr
    assert "GB of memory" in res.stderr and "--force-size" in res.stderr, res.stderr
    assert time.time() - t0 < 60, "refused only after cutting the slabs"
    assert not _gpaw_processes(tmp_path / "out")


@requires_gpaw
def test_the_memory_estimate_brackets_measured_gpaw_runs():
    """The estimate against the peak RSS (all ranks together) of real runs, fast preset, 2 ranks:
    Mg bulk 232 MB, Mg(0001) 6-atom slab 325 MB, a 36-atom Mg bulk (3x3x2 cell, k 4x4x3) 1444 MB."""
    from pymatgen.core import Structure

    from semcgcnn.datasets import load
    from semcgcnn.pipeline.labelling.gpaw import GPAW_PRESETS, estimate_memory_bytes
    from semcgcnn.pipeline.slabs import SlabConfig, conventional_cell, slabs_for_miller

    fast = GPAW_PRESETS["fast"]
    (mg,) = [r.structure for r in load("elemental_refs") if r.structure_id == "Mg-3"]
    conv, _, _ = conventional_cell(mg)
    slab = slabs_for_miller(conv, (0, 0, 1), SlabConfig())[0][0]
    assert isinstance(slab, Structure) and len(slab) == 6
    runs = ((mg, "bulk", 232e6), (slab, "slab", 325e6), (mg * (3, 3, 2), "bulk", 1444e6))
    for structure, kind, measured in runs:
        estimate = estimate_memory_bytes(structure, kind, fast)
        assert measured <= estimate <= 1.6 * measured, (len(structure), kind, estimate / 1e6)
