"""Faults that used to corrupt or lose work, tried as a user would: two runs on one folder,
outputs that cannot be written, Ctrl-C, and a kill -9 of the main process (its workers must go too)."""

from __future__ import annotations

import signal
import subprocess

import pandas as pd
from cli_runner import start_cli
from processes import alive, children, wait_for

SMALL = ("screen", "--limit", "4", "--workers", "1", "--batch-size", "1")


def _start(*args: str) -> subprocess.Popen:
    return start_cli(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_runs_on_one_folder_one_refuses_and_nothing_is_doubled(cli, tmp_path):
    out = tmp_path / "shared"
    first, second = (
        _start(*SMALL, "--out", str(out), "--resume"),
        _start(*SMALL, "--out", str(out), "--resume"),
    )
    results = [(p.wait(timeout=600), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1], results
    refused = next(err for code, err in results if code == 1)
    assert "is in use by pid" in refused and "--resume" in refused and "Traceback" not in refused
    assert refused.count("error:") == 1
    for name in ("compounds", "wulff"):
        df = pd.read_parquet(out / f"{name}.parquet")
        assert len(df) == 4 and df["compound_id"].is_unique
    again = cli(*SMALL, "--out", str(out), "--resume")  # the lock went with its holder
    assert again.returncode == 0, again.stderr
    assert len(pd.read_parquet(out / "slabs.parquet")) == len(pd.read_parquet(out / "predictions.parquet"))


def test_assembling_never_duplicates_a_compound_committed_twice(tmp_path):
    # parts from two runs that raced before the lock existed: each compound counts once
    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.pipeline.screen.batch import screen_batch
    from semcgcnn.pipeline.screen.candidates import screen_candidates
    from semcgcnn.pipeline.screen.run import cut_slabs
    from semcgcnn.pipeline.screen.store import PartStore
    from semcgcnn.pipeline.slabs import SlabConfig

    found = screen_candidates("bundled", elements=["Ag"], limit=2)
    cut = [(c, cut_slabs(c.compound_id, c.structure, SlabConfig())) for c in found.candidates]
    predictor, store = load_pretrained(), PartStore(tmp_path)
    ids = [c.compound_id for c, _ in cut]
    store.commit(screen_batch(cut, predictor), ids)
    store.commit(screen_batch(cut[1:], predictor), ids[1:])  # the second run's copy of one compound
    store.commit(screen_batch(cut, predictor), ids)
    paths = store.assemble({c: i for i, c in enumerate(ids)}, [], {})
    n_slabs = sum(len(r.slabs) for _, r in cut)
    assert list(pd.read_parquet(paths["compounds"])["compound_id"]) == ids
    assert len(pd.read_parquet(paths["slabs"])) == len(pd.read_parquet(paths["predictions"])) == n_slabs


def test_outputs_that_cannot_be_written_fail_first_in_one_line(cli, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    slab = tmp_path / "slab.json"
    from semcgcnn.datasets import load

    slab.write_text(load("elemental_slabs")[0].structure.to_json())
    cases = [
        (("predict", str(slab), "--out", str(a_file / "preds.parquet")), 2, "is a file, not a folder"),
        (("predict", str(slab), "--out", "/sys/semcgcnn/preds.parquet"), 2, "cannot write to /sys"),
        (("predict", str(slab), "--out", str(tmp_path)), 2, "is a folder, not a file name"),
        (("screen", "--out", str(a_file / "screen"), "--limit", "1"), 1, "is a file, not a folder"),
        (("screen", "--out", "/sys/semcgcnn-screen", "--limit", "1"), 1, "cannot write to /sys"),
    ]
    for args, code, needle in cases:
        res = cli(*args)
        assert res.returncode == code and "Traceback" not in res.stderr, (args, res.stderr)
        assert needle in res.stderr and res.stderr.count("error:") == 1, (args, res.stderr)
        assert "reading" not in res.stderr, "the work started before the output was checked"


def test_ctrl_c_says_what_was_kept_and_how_to_resume(cli, tmp_path):
    out = tmp_path / "interrupted"
    proc = _start("screen", "--limit", "12", "--workers", "2", "--batch-size", "1", "--out", str(out))
    assert wait_for(lambda: proc.poll() is not None or any((out / "parts").glob("part-*")))
    proc.send_signal(signal.SIGINT)
    code, err = proc.wait(timeout=120), proc.stderr.read()
    assert code == 130 and "Traceback" not in err, err
    assert "interrupted:" in err and "committed in" in err and "--resume" in err
    resumed = cli(
        "screen", "--limit", "12", "--workers", "2", "--batch-size", "1", "--out", str(out), "--resume"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert len(pd.read_parquet(out / "compounds.parquet")) == 12


def test_workers_exit_when_the_main_process_is_killed(tmp_path):
    proc = _start("screen", "--workers", "2", "--out", str(tmp_path / "orphans"))
    assert wait_for(lambda: proc.poll() is not None or len(children(proc.pid)) >= 2), "no workers started"
    workers = children(proc.pid)
    assert len(workers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    gone = wait_for(lambda: not any(alive(w) for w in workers), timeout=15)
    assert gone, f"worker processes {workers} outlived their killed parent"


def test_refusal_names_a_holder_that_writes_its_line_late(tmp_path):
    """The CI race: a run refused in the instant between the other's flock and its pid line
    must still name the holder, and a lock released cleanly leaves no stale holder line."""
    import fcntl
    import threading

    from semcgcnn.pipeline.screen.store import FolderLockedError, RunLock

    with RunLock(tmp_path):
        pass
    assert (tmp_path / ".lock").read_text() == ""
    held = open(tmp_path / ".lock", "a+")  # noqa: SIM115 - another holder, its line not yet written
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    threading.Timer(0.3, lambda: (held.write("pid 4242 on elsewhere"), held.flush())).start()
    try:
        with RunLock(tmp_path):
            raise AssertionError("a held folder was locked twice")
    except FolderLockedError as err:
        assert "is in use by pid 4242 on elsewhere" in str(err)
    finally:
        held.close()
