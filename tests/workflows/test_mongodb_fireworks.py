"""The screen and label Flows on FireWorks with a real MongoDB server (``mongo_server``): LaunchPad and
jobflow job store on it, several ``rlaunch rapidfire`` workers at once, a worker SIGKILLed inside a
batch job and ``lpad detect_lostruns --rerun``. Tables are compared with the plain run's by
``bench/identity.py``'s logic; every Firework must complete exactly once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from backends_required import requires_gpaw
from fireworks_mongo import FireWorksSite, wait_all, wait_for
from same_tables import assert_same_labels, assert_same_tables
from screen_reference import N_AL, SCREEN_TABLES, committed_once

ADD_SCREEN = """
import sys
from fireworks import LaunchPad
from jobflow.managers.fireworks import flow_to_workflow
from semcgcnn.pipeline.screen.config import ScreenConfig
from semcgcnn.workflows.screen.maker import ScreeningMaker

lp = LaunchPad.from_file(sys.argv[1])
lp.reset("", require_password=False)
screen = ScreeningMaker(config=ScreenConfig(elements=("Al",), limit=4), batch_size=1)
lp.add_wf(flow_to_workflow(screen.make(sys.argv[2])))
"""

ADD_LABELS = """
import sys
from fireworks import LaunchPad
from jobflow.managers.fireworks import flow_to_workflow
from pymatgen.core import Structure
from semcgcnn.workflows.labelling.maker import SurfacePropertyMaker

bulk = Structure.from_file(sys.argv[2])
lp = LaunchPad.from_file(sys.argv[1])
lp.reset("", require_password=False)
lp.add_wf(flow_to_workflow(SurfacePropertyMaker.from_backend("gpaw", "fast", miller=(0, 0, 1)).make(
    bulk, "Mg", sys.argv[3])))
"""


def _completed_once(site: FireWorksSite) -> None:
    """Every Firework COMPLETED, and exactly one of its launches (others: lost ones, archived)."""
    states = site.states()
    failed = "".join(f"\n{name} FIZZLED in {why}" for name, why in site.failures().items())
    assert set(states.values()) == {"COMPLETED"}, f"{states}{failed}"
    counts = site.launch_counts()
    assert {name: c["COMPLETED"] for name, c in counts.items()} == {name: 1 for name in states}, counts


def test_screen_flow_on_three_concurrent_workers_gives_plain_tables(
    plain_al_screen, mongo_server, mongo_db, tmp_path
):
    site = FireWorksSite(mongo_server, mongo_db, tmp_path / "fw")
    out = tmp_path / "screen"
    add = site.python(ADD_SCREEN, str(out))
    assert add.returncode == 0, add.stderr
    t0 = time.perf_counter()
    workers = [site.worker(f"w{i}") for i in range(3)]
    assert wait_all(workers, 600) == [0, 0, 0]
    seconds = time.perf_counter() - t0
    # candidates, fan-out, one batch job per compound, the fan-out's output collector, assemble
    assert len(site.states()) == 3 + N_AL + 1
    _completed_once(site)
    assert sum(c.total() for c in site.launch_counts().values()) == 3 + N_AL + 1  # no launch twice
    used = site.workers_used()
    assert len(used) >= 2, f"only {used} ran Fireworks: the workers did not run concurrently"
    committed_once(out)
    assert_same_tables(out, plain_al_screen, SCREEN_TABLES)
    print(
        f"FireWorks on the server, 3 rlaunch rapidfire workers ({len(used)} ran launches), "
        f"{N_AL} compounds: {seconds:.1f} s"
    )


def test_worker_killed_mid_batch_is_found_lost_rerun_and_loses_no_row(
    plain_al_screen, mongo_server, mongo_db, tmp_path
):
    """SIGKILL the worker of a RUNNING batch job: its Firework stays RUNNING with no worker behind
    it; the other workers finish what does not depend on it and go idle. ``lpad detect_lostruns
    --time 1 --rerun`` makes it READY again and a new rapidfire finishes the screen: every
    Firework COMPLETED once, every compound committed once, the plain tables."""
    site = FireWorksSite(mongo_server, mongo_db, tmp_path / "fw")
    out = tmp_path / "screen"
    assert site.python(ADD_SCREEN, str(out)).returncode == 0
    workers = {f"w{i}": site.worker(f"w{i}") for i in range(2)}
    launch = wait_for(lambda: site.running_launch("screen batch"), 300, "a RUNNING batch job")
    # into its task: the rocket writes FW.json once its checkout (which holds the workflow's lock) is done
    wait_for(lambda: (Path(launch["launch_dir"]) / "FW.json").exists(), 60, "the batch job's FW.json")
    victim = Path(launch["launch_dir"]).relative_to(site.root).parts[0]
    workers[victim].send_signal(signal.SIGKILL)
    workers[victim].wait()
    killed_at = time.monotonic()
    survivors = [p for name, p in workers.items() if name != victim]

    def others_done():
        states = site.states()
        running = {n for n, s in states.items() if s == "RUNNING"}
        batches = [s for n, s in states.items() if n.startswith("screen batch") and n != launch["name"]]
        return running == {launch["name"]} and len(batches) == N_AL - 1 and set(batches) == {"COMPLETED"}

    wait_for(others_done, 300, "the other batch jobs to complete", interval_s=0.5)
    assert site.states()["assemble tables"] == "WAITING" and not (out / "wulff.parquet").exists()
    for p in survivors:  # idle: polling for Fireworks that wait on the lost one
        assert p.poll() is None
        p.terminate()
        p.wait()

    time.sleep(max(0.0, killed_at + 1.5 - time.monotonic()))
    lost = site.lpad("detect_lostruns", "--time", "1", "--rerun")
    assert lost.returncode == 0, lost.stderr
    assert site.states()[launch["name"]] == "READY"
    assert wait_all([site.worker("w_after")], 600) == [0]

    _completed_once(site)
    counts = site.launch_counts()
    assert counts[launch["name"]].total() == 2  # the lost launch (archived) and the rerun
    fw = site.db().fireworks.find_one({"name": launch["name"]})
    assert len(fw["archived_launches"]) == 1 and len(fw["launches"]) == 1
    assert all(c.total() == 1 for name, c in counts.items() if name != launch["name"])
    committed_once(out)
    assert_same_tables(out, plain_al_screen, SCREEN_TABLES)


@requires_gpaw
def test_label_flow_on_two_concurrent_workers_gives_cli_labels(
    hcp_mg_file, mg_cli_labels, mongo_server, mongo_db, tmp_path
):
    """SurfacePropertyMaker (GPAW fast, Mg (0001)) on the server with two workers: the bulk and
    slab calculations run side by side, each Firework completes once, and the label tables are
    those of ``semcgcnn label`` on the same file."""
    site = FireWorksSite(mongo_server, mongo_db, tmp_path / "fw")
    out = tmp_path / "labels"
    add = site.python(ADD_LABELS, str(hcp_mg_file), str(out))
    assert add.returncode == 0, add.stderr
    t0 = time.perf_counter()
    assert wait_all([site.worker("w0"), site.worker("w1")], 600) == [0, 0]
    seconds = time.perf_counter() - t0
    states = site.states()
    assert len(states) == 4, states  # bulk, slab, label row, collect
    _completed_once(site)
    assert sum(c.total() for c in site.launch_counts().values()) == 4
    assert len(list(site.root.rglob("gpaw.txt"))) == 2
    assert_same_labels(out, mg_cli_labels)
    print(
        f"FireWorks on the server, GPAW fast Mg(0001), 2 workers ({len(site.workers_used())} ran "
        f"launches): {seconds:.1f} s"
    )
