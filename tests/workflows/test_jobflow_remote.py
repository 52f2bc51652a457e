"""jobflow-remote end to end on the real test server (``mongo_server``): the shipped example project
with its local shell worker, queue store and job store (GridFS ``data`` store) pointed at the
server, ``submit_flow`` of the screen and the label Flows, ``jf runner run`` until every job is
COMPLETED, the tables where each Flow writes them; a runner SIGKILLed mid-screen and started again
finishes with no compound lost or committed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml
from backends_required import have_gpaw
from fireworks_mongo import wait_for
from same_tables import assert_same_tables
from screen_reference import SCREEN_TABLES, committed_once

BIN = Path(sys.executable).parent
# the runner's waits between its steps (s); its defaults (30 s and more) suit a cluster, not a test
RUNNER_DELAYS = {
    "delay_checkout": 1,
    "delay_check_run_status": 1,
    "delay_advance_status": 1,
    "delay_refresh_limited": 1,
    "delay_update_batch": 1,
}

SUBMIT = """
import sys
from jobflow_remote import submit_flow
from pymatgen.core import Structure
from semcgcnn.workflows.labelling.maker import SurfacePropertyMaker
from semcgcnn.pipeline.screen.config import ScreenConfig
from semcgcnn.workflows.screen.maker import ScreeningMaker

screen_out, bulk_file, labels_out = sys.argv[1:4]
screen = ScreeningMaker(config=ScreenConfig(elements=("Al",), limit=4), batch_size=1, job_size=2)
flows = [screen.make(screen_out)]
if bulk_file != "-":
    bulk = Structure.from_file(bulk_file)
    maker = SurfacePropertyMaker.from_backend("gpaw", "fast", miller=(0, 0, 1))
    flows.append(maker.make(bulk, "Mg", labels_out))
for flow in flows:
    submit_flow(flow, worker="local")
"""


def example_project() -> dict:
    import semcgcnn.workflows

    path = Path(semcgcnn.workflows.__file__).parent / "examples" / "jobflow_remote_project.yaml"
    return yaml.safe_load(path.read_text())


class JobflowRemoteSite:
    """The example project with only its local worker, every store on the test server, in ``root``."""

    def __init__(self, server, database: str, root: Path):
        self.server, self.database, self.root = server, database, root
        raw = example_project()
        self.name = raw["name"] = database
        local = raw["workers"]["local"]
        local["work_dir"] = str(root / "jobs")
        local["pre_run"] = f"source {BIN / 'activate'}\nexport OMP_NUM_THREADS=1"
        raw["workers"] = {"local": local}
        raw["queue"]["store"] = server.mongo_store(database, "jobs")
        raw["jobstore"]["docs_store"] = server.mongo_store(database, "outputs")
        data = raw["jobstore"]["additional_stores"]["data"]
        assert data["type"] == "GridFSStore"  # the example's: structures and tables in GridFS
        data.update(host=server.host, port=server.port, database=database)
        for spec in (data, raw["jobstore"]["docs_store"], raw["queue"]["store"]):
            spec.pop("username", None)
            spec.pop("password", None)
        raw["runner"] = dict(RUNNER_DELAYS)
        projects = root / "projects"
        projects.mkdir(parents=True)
        (projects / f"{self.name}.yaml").write_text(yaml.safe_dump(raw))
        self.env = {
            **os.environ,
            "COLUMNS": "200",
            "JFREMOTE_PROJECTS_FOLDER": str(projects),
            "JFREMOTE_PROJECT": self.name,
        }
        for var in ("MP_API_KEY", "JOBFLOW_CONFIG_FILE", "MONGOMOCK_SERVERSTORE_FILE"):
            self.env.pop(var, None)
        self.client = server.client()

    def run(self, *cmd: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(cmd), env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout
        )

    def jf(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "jf"), *args)

    def runner(self, name: str) -> subprocess.Popen:
        """``jf runner run`` in the foreground (its log in ``root/name.log``)."""
        log = (self.root / f"{name}.log").open("w")
        return subprocess.Popen(
            [str(BIN / "jf"), "runner", "run"],
            env=self.env,
            cwd=self.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def states(self) -> dict[str, str]:
        """``name (index)`` → state of every job in the queue database."""
        return {
            f"{d['job']['name']} ({d['index']})": d["state"]
            for d in self.client[self.database].jobs.find({}, {"job.name": 1, "index": 1, "state": 1})
        }

    def all_completed(self) -> dict[str, str] | None:
        states = self.states()
        if states and set(states.values()) == {"COMPLETED"}:
            return states
        bad = {k: s for k, s in states.items() if s in ("FAILED", "REMOTE_ERROR", "PAUSED", "STOPPED")}
        assert not bad, bad
        return None


def stop(proc: subprocess.Popen) -> None:
    """End a process that this test started, by its PID: terminate, then kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_screen_and_label_flows_complete_through_the_runner(
    plain_al_screen, hcp_mg_file, mongo_server, mongo_db, tmp_path
):
    site = JobflowRemoteSite(mongo_server, mongo_db, tmp_path)
    reset = site.jf("admin", "reset", "-o", "-y")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    screen_out, labels_out = tmp_path / "screen", tmp_path / "labels"
    with_labels = have_gpaw()
    submit = site.run(
        sys.executable,
        "-c",
        SUBMIT,
        str(screen_out),
        str(hcp_mg_file) if with_labels else "-",
        str(labels_out),
    )
    assert submit.returncode == 0, submit.stderr
    t0 = time.perf_counter()
    runner = site.runner("runner")
    try:
        states = wait_for(site.all_completed, 480, "every job COMPLETED", interval_s=1)
    finally:
        stop(runner)
    seconds = time.perf_counter() - t0
    # screen: candidates, fan-out (and its replacement's output job), 2 batch jobs, assemble;
    # labels: bulk, slab, label row, collect
    assert len(states) == 6 + (4 if with_labels else 0), states
    committed_once(screen_out)
    assert_same_tables(screen_out, plain_al_screen, SCREEN_TABLES)
    listed = site.jf("job", "list")
    assert listed.returncode == 0 and "COMPLETED" in listed.stdout, listed.stderr
    if with_labels:  # the FireWorks test compares the same Flow's labels with the CLI's
        labels, errors = (pd.read_parquet(labels_out / f"{t}.parquet") for t in ("labels", "errors"))
        assert len(labels) == 1 and len(errors) == 0 and labels.structure_id[0] == "Mg_0_0_1_t0"
        assert abs(labels.surface_energy_eV_per_A2[0] / 0.0318 - 1) < 0.15  # Materials Project PBE
        assert abs(labels.work_function_eV[0] - 3.61) < 0.25
    print(f"jobflow-remote, runner in the foreground, {len(states)} jobs: {seconds:.1f} s to all COMPLETED")


def test_runner_killed_mid_screen_and_restarted_loses_nothing(
    plain_al_screen, mongo_server, mongo_db, tmp_path
):
    site = JobflowRemoteSite(mongo_server, mongo_db, tmp_path)
    assert site.jf("admin", "reset", "-o", "-y").returncode == 0
    screen_out = tmp_path / "screen"
    submit = site.run(sys.executable, "-c", SUBMIT, str(screen_out), "-", "-")
    assert submit.returncode == 0, submit.stderr
    runner = site.runner("runner1")
    wait_for(lambda: list((screen_out / "parts").glob("part-*")), 300, "a first committed compound")
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    states = site.states()
    assert set(states.values()) != {"COMPLETED"} and not (screen_out / "wulff.parquet").exists(), states
    time.sleep(3)  # the batch job the runner had started goes on without it
    again = site.runner("runner2")
    try:
        states = wait_for(site.all_completed, 480, "every job COMPLETED after the restart", interval_s=1)
    finally:
        stop(again)
    assert len(states) == 6, states
    committed_once(screen_out)
    assert_same_tables(screen_out, plain_al_screen, SCREEN_TABLES)
