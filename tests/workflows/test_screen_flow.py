"""The screen as a jobflow Flow: run_locally (``--engine jobflow``), FireWorks, jobflow-remote config.

Every engine must write the same six tables as the plain ``semcgcnn screen`` for the same
candidates: Mg3Br and three Ca–Mg binaries (error rows: see the refused-inputs test).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import BIN, cli_env, run_command, start_cli
from fireworks_embedded import fireworks_env

TABLES = ("compounds", "slabs", "predictions", "facets", "wulff", "errors")
SCREEN = ("screen", "--elements", "Br,Ca", "--limit", "4", "--workers", "1", "--batch-size", "1")
REPO = Path(__file__).resolve().parents[2]


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(out / f"{t}.parquet") for t in TABLES}


def _assert_same_tables(out: Path, ref: Path) -> None:
    got, want = _tables(out), _tables(ref)
    for name in TABLES:
        pd.testing.assert_frame_equal(got[name], want[name], obj=name)


@pytest.fixture(scope="module")
def plain(cli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "screen"
    res = cli(*SCREEN, "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


def test_plain_reference_screens_four_real_compounds(plain):
    t = _tables(plain)
    assert t["compounds"]["formula"].tolist()[0] == "Mg3Br" and len(t["compounds"]) == 4
    assert len(t["wulff"]) == 4 and t["wulff"]["dominant_facet"].ne("").all()  # every compound has a shape
    assert len(t["slabs"]) == len(t["predictions"]) > 20


def test_screen_config_round_trips_through_plain_json():
    from semcgcnn.pipeline.screen.config import ScreenConfig

    cfg = ScreenConfig(elements=("Br", "Ca"), limit=4, max_atoms=12).with_slab(
        max_index=2, min_slab_size_A=12.5
    )
    again = ScreenConfig.from_parameters(json.loads(json.dumps(cfg.parameters())))
    assert again == cfg and again.slab.retry_thickness_factors == (1.5, 2.0)


def test_maker_holds_a_screen_config_and_builds_three_jobs(plain, tmp_path):
    from monty.json import MontyDecoder, jsanitize

    from semcgcnn.pipeline.screen.config import BATCH_SIZE, ScreenConfig
    from semcgcnn.workflows.local import run_flow
    from semcgcnn.workflows.screen.maker import ScreeningMaker

    assert ScreeningMaker().config == ScreenConfig() and ScreeningMaker().batch_size == BATCH_SIZE
    cfg = ScreenConfig(elements=("Ca",), limit=3).with_slab(max_index=2)
    maker = ScreeningMaker(config=cfg, batch_size=2)
    assert maker.config == cfg
    again = MontyDecoder().process_decoded(json.loads(json.dumps(jsanitize(maker.as_dict(), strict=True))))
    assert again == maker and again.config == cfg  # a maker survives a job store or a FireWorks spec
    flow = maker.make(tmp_path / "out")
    assert [j.name for j in flow.jobs] == ["find candidates", "screen in batches", "assemble tables"]
    # run: the plain reference's compounds in batch jobs of job_size (3), each committing its
    # compounds in parts of batch_size (2); the tables are the plain screen's
    run = ScreeningMaker(config=ScreenConfig(elements=("Br", "Ca"), limit=4), batch_size=2, job_size=3)
    flow = run.make(tmp_path / "run")
    responses = run_flow(flow, tmp_path / "store")
    outputs = [r.output for by_index in responses.values() for r in by_index.values()]
    batch_docs = [o for o in outputs if type(o).__name__ == "CompoundBatchDoc"]
    ids = _tables(plain)["compounds"]["compound_id"].tolist()
    assert sorted(d.compound_ids for d in batch_docs) == sorted([ids[:3], ids[3:]])
    assert all(len(d.parts) == -(-len(d.compound_ids) // 2) for d in batch_docs)
    summary = responses[flow.jobs[-1].uuid][1].output
    assert summary.table_rows == {name: len(df) for name, df in _tables(plain).items()}
    _assert_same_tables(tmp_path / "run", plain)


def test_jobflow_engine_writes_the_plain_tables(cli, plain, tmp_path):
    out = tmp_path / "jf"
    t0 = time.perf_counter()
    res = cli(*SCREEN, "--engine", "jobflow", "--out", str(out))
    seconds = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    assert "4 compounds" in res.stdout and f"{len(_tables(plain)['errors'])} error" in res.stdout
    _assert_same_tables(out, plain)
    docs = json.loads((out / "jobflow" / "docs.json").read_text())
    names = sorted(d["name"] for d in docs)
    # --workers 1: 4 compounds per batch job (COMPOUNDS_PER_WORKER), committed one per part
    assert names.count("screen batch 1/1") == 1 and "assemble tables" in names and len(docs) == 5
    assert len(list((out / "parts").glob("part-*"))) == 4
    summary = next(d["output"] for d in docs if d["name"] == "assemble tables")
    assert summary["@class"] == "ScreenSummaryDoc" and summary["table_rows"]["errors"] == len(
        _tables(plain)["errors"]
    )
    assert summary["n_slabs"] == len(_tables(plain)["slabs"])
    print(f"--engine jobflow, 4 compounds: {seconds:.1f} s")  # shown with -s; the README quotes it


def test_jobflow_engine_resumes_after_sigkill_without_redoing_compounds(cli, plain, tmp_path):
    out = tmp_path / "killed"
    proc = start_cli(
        *SCREEN,
        "--engine",
        "jobflow",
        "--out",
        str(out),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list((out / "parts").glob("part-*")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {p.name for p in (out / "parts").glob("part-*")}
    assert 1 <= len(first) < 4 and not (out / "wulff.parquet").exists(), "the kill did not land mid-run"

    again = cli(*SCREEN, "--engine", "jobflow", "--out", str(out))
    assert again.returncode == 1 and "--resume" in again.stderr and "Traceback" not in again.stderr
    res = cli(*SCREEN, "--engine", "jobflow", "--out", str(out), "--resume")
    assert res.returncode == 0, res.stderr
    parts = sorted((out / "parts").glob("part-*"))
    assert first <= {p.name for p in parts}  # the killed run's parts are kept, not redone
    done = [cid for p in parts for cid in json.loads((p / "done.json").read_text())]
    assert len(done) == len(set(done)) == 4
    _assert_same_tables(out, plain)


def test_jobflow_engine_user_mistakes_are_one_line(cli, tmp_path):
    bad = cli("screen", "--out", str(tmp_path / "a"), "--engine", "dask")
    assert bad.returncode != 0 and "unknown --engine 'dask'" in bad.stderr and "Traceback" not in bad.stderr
    res = cli("screen", "--out", str(tmp_path / "b"), "--engine", "jobflow", "--elements", "Xx")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: --elements: Xx is not an element")


FIREWORKS_ADD = """
import sys
from fireworks import LaunchPad
from jobflow.managers.fireworks import flow_to_workflow
from semcgcnn.pipeline.screen.config import ScreenConfig
from semcgcnn.workflows.screen.maker import ScreeningMaker

flow = ScreeningMaker(config=ScreenConfig(elements=("Br", "Ca"), limit=4), batch_size=1).make(sys.argv[1])
lp = LaunchPad()
lp.reset("", require_password=False)
lp.add_wf(flow_to_workflow(flow))
"""

FIREWORKS_STATES = """
import json
from fireworks import LaunchPad
print(json.dumps({fw["name"]: fw["state"] for fw in LaunchPad().fireworks.find({}, {"state": 1, "name": 1})}))
"""


def test_fireworks_rapidfire_completes_the_screen(plain, tmp_path):
    env = fireworks_env(tmp_path)
    out, launches = tmp_path / "fw_screen", tmp_path / "launches"
    launches.mkdir()
    add = run_command([sys.executable, "-c", FIREWORKS_ADD, str(out)], env=env, cwd=launches)
    assert add.returncode == 0, add.stderr
    t0 = time.perf_counter()
    fire = run_command([str(BIN / "rlaunch"), "rapidfire"], env=env, cwd=launches)
    seconds = time.perf_counter() - t0
    assert fire.returncode == 0, fire.stderr
    states = _fw_states(
        env, launches
    )  # candidates, fan-out, 4 batches, the fan-out's output collector, assemble
    assert len(states) == 8 and set(states.values()) == {"COMPLETED"}, states
    _assert_same_tables(out, plain)
    print(f"FireWorks rlaunch rapidfire, 4 compounds: {seconds:.1f} s")


def test_jobflow_remote_accepts_the_example_project():
    import yaml
    from jobflow_remote.config.base import Project, RemoteWorker
    from pydantic import ValidationError

    import semcgcnn.workflows

    path = Path(semcgcnn.workflows.__file__).parent / "examples" / "jobflow_remote_project.yaml"
    raw = yaml.safe_load(path.read_text())
    project = Project.model_validate(raw)
    cluster = project.workers["cluster"]
    assert isinstance(cluster, RemoteWorker) and cluster.scheduler_type == "slurm"
    assert cluster.resources["cpus_per_task"] == 4 and project.queue.store["type"] == "MongoStore"
    assert set(project.get_jobstore().additional_stores) == {"data"}  # where find candidates puts structures
    raw["workers"]["cluster"]["scheduler_type"] = "slurmm"
    with pytest.raises(ValidationError, match="Unknown scheduler type slurmm"):
        Project.model_validate(raw)


def _interrupt_midrun_command(cmd: list[str], env: dict, cwd: Path, out: Path, sig: int) -> None:
    """Start ``cmd``; send ``sig`` inside a batch job (just after a first part is committed)."""
    proc = subprocess.Popen(
        cmd, env=cli_env(env), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list((out / "parts").glob("part-*")):
        time.sleep(0.01)
    time.sleep(0.2)  # into the next batch job
    proc.send_signal(sig)
    proc.wait()
    assert len(list((out / "parts").glob("part-*"))) < 4 and not (out / "wulff.parquet").exists(), (
        "the interrupt did not land mid-run"
    )


def _fw_states(env: dict, cwd: Path) -> dict[str, str]:
    res = run_command([sys.executable, "-c", FIREWORKS_STATES], env=env, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _committed_once(out: Path) -> None:
    done = [cid for p in (out / "parts").glob("part-*") for cid in json.loads((p / "done.json").read_text())]
    assert len(done) == len(set(done)) == 4


def test_fireworks_interrupted_worker_is_rerun_and_loses_no_rows(plain, tmp_path):
    """A worker interrupted (Ctrl-C) inside a batch job: FireWorks marks that Firework FIZZLED and
    the assemble job refuses to write tables without its compounds; ``lpad rerun_fws -s FIZZLED``
    and a new rapidfire finish the screen, and no row is lost or duplicated."""
    env = fireworks_env(tmp_path)
    out, launches = tmp_path / "fw_screen", tmp_path / "launches"
    launches.mkdir()
    assert run_command([sys.executable, "-c", FIREWORKS_ADD, str(out)], env=env, cwd=launches).returncode == 0
    _interrupt_midrun_command([str(BIN / "rlaunch"), "rapidfire"], env, launches, out, signal.SIGINT)
    states = _fw_states(env, launches)
    fizzled = sorted(name for name, state in states.items() if state == "FIZZLED")
    assert len(fizzled) == 2 and fizzled[0] == "assemble tables" and fizzled[1].startswith("screen batch"), (
        states
    )

    rerun = run_command([str(BIN / "lpad"), "rerun_fws", "-s", "FIZZLED"], env=env, cwd=launches)
    assert rerun.returncode == 0, rerun.stderr
    fire = run_command([str(BIN / "rlaunch"), "rapidfire"], env=env, cwd=launches)
    assert fire.returncode == 0, fire.stderr
    assert set(_fw_states(env, launches).values()) == {"COMPLETED"}
    _committed_once(out)
    _assert_same_tables(out, plain)


def test_fireworks_after_a_killed_worker_skips_committed_compounds(plain, tmp_path):
    """A SIGKILLed worker: the embedded mongomock writes its file only when a process exits, so the
    LaunchPad forgets that worker's progress (on a MongoDB server it would show a RUNNING
    Firework for ``lpad detect_lostruns --rerun``). A new rapidfire reruns the flow from its start;
    the candidates job finds the compounds the killed worker committed and leaves them out, so the
    tables are still exact."""
    env = fireworks_env(tmp_path)
    out, launches = tmp_path / "fw_screen", tmp_path / "launches"
    launches.mkdir()
    assert run_command([sys.executable, "-c", FIREWORKS_ADD, str(out)], env=env, cwd=launches).returncode == 0
    _interrupt_midrun_command([str(BIN / "rlaunch"), "rapidfire"], env, launches, out, signal.SIGKILL)
    kept = {p.name for p in (out / "parts").glob("part-*")}
    assert kept and _fw_states(env, launches)["screen in batches"] != "COMPLETED"
    fire = run_command([str(BIN / "rlaunch"), "rapidfire"], env=env, cwd=launches)
    assert fire.returncode == 0, fire.stderr
    assert set(_fw_states(env, launches).values()) == {"COMPLETED"}
    assert kept <= {p.name for p in (out / "parts").glob("part-*")}
    docs = json.loads((tmp_path / "docs.json").read_text())
    (found,) = [d["output"] for d in docs if d["name"] == "find candidates"]  # the rerun's (same uuid)
    assert found["n_already_done"] == len(kept)  # one compound per part: the rerun fans out only the rest
    _committed_once(out)
    _assert_same_tables(out, plain)


def test_refused_inputs_are_the_same_error_rows_under_both_engines(tmp_path, bulk_inputs):
    from semcgcnn.pipeline.screen.config import ScreenConfig
    from semcgcnn.pipeline.screen.run import run_screen
    from semcgcnn.workflows.local import run_screen_jobflow

    inputs = bulk_inputs("overlap.json")
    cfg = ScreenConfig(structures=str(inputs))
    plain = run_screen(cfg, tmp_path / "plain", workers=1)
    flow = run_screen_jobflow(cfg, tmp_path / "flow", workers=1)
    assert (flow.n_compounds, flow.n_errors) == (plain.n_compounds, plain.n_errors) == (1, 2)
    _assert_same_tables(tmp_path / "flow", tmp_path / "plain")
    errors = pd.read_parquet(tmp_path / "flow" / "errors.parquet")
    assert errors["stage"].tolist() == ["candidates"] * 2 and set(errors["id"]) == {
        "broken.cif",
        "overlap.json",
    }


def test_the_flow_carries_the_prior_and_screens_without_it_keep_their_manifest():
    """``--engine jobflow`` builds its jobs from the maker's config: the flag must survive the
    round trip through the maker and plain JSON; without it the manifest's parameters are unchanged
    (a screen made before the prior existed still resumes)."""
    from semcgcnn.pipeline.screen.config import ScreenConfig
    from semcgcnn.workflows.screen.maker import ScreeningMaker

    cfg = ScreenConfig(elements=("Al",), limit=2, mlip_prior=True)
    maker = ScreeningMaker(config=cfg)
    assert maker.config.mlip_prior is True
    assert ScreenConfig.from_parameters(maker.config.parameters()).mlip_prior is True
    plain = {k: v for k, v in maker.as_dict().items() if not k.startswith("@")}
    assert ScreeningMaker(**plain).config.mlip_prior is True
    assert "mlip_prior" not in ScreenConfig(elements=("Al",)).parameters()
