"""jobflow's conventions under ``--engine jobflow``: the user's configured ``JOB_STORE`` (here a
MongoStore on the test server, ``mongo_server``) instead of the file store in ``OUT/jobflow``, and
job documents whose size does not grow with the screen: the candidates travel as files in the
screen folder (``workflows/screen/handoff.py``), never in a document, and the fan-out is a tree of
bounded width.

The document sizes are measured on a representative screen, the 2-atom cells of the shipped set
(8 and 24 candidates, ≈ 15 s each here), not on the default 210 compounds (≈ 1.5 min)."""

from __future__ import annotations

from pathlib import Path

from jobflow.utils.find import find_key
from mongo_server import largest_documents
from same_tables import assert_same_tables
from screen_reference import AL_SCREEN, N_AL, SCREEN_TABLES, committed_once, semcgcnn

SMALL_CELLS = ("--max-atoms", "2", "--workers", "1")


def _engine_jobflow(out: Path, config: Path, *args: str):
    return semcgcnn(
        "screen", *args, "--engine", "jobflow", "--out", str(out), env={"JOBFLOW_CONFIG_FILE": str(config)}
    )


def test_configured_job_store_is_jobflows_own_setting(mongo_server, mongo_db, tmp_path):
    from jobflow.settings import JobflowSettings
    from maggma.stores import MongoStore

    from semcgcnn.workflows.local import configured_job_store

    assert configured_job_store(JobflowSettings(CONFIG_FILE=str(tmp_path / "absent.yaml"))) is None
    config = mongo_server.write_jobflow_config(tmp_path / "jobflow.yaml", mongo_db)
    store = configured_job_store(JobflowSettings(CONFIG_FILE=str(config)))
    assert isinstance(store.docs_store, MongoStore) and store.docs_store.database == mongo_db
    assert store.docs_store.port == mongo_server.port and set(store.additional_stores) == {"data"}


def test_engine_jobflow_writes_its_documents_to_the_configured_store(
    plain_al_screen, mongo_server, mongo_db, tmp_path
):
    config = mongo_server.write_jobflow_config(tmp_path / "jobflow.yaml", mongo_db)
    out = tmp_path / "screen"
    res = _engine_jobflow(out, config, *AL_SCREEN)
    assert res.returncode == 0, res.stderr
    assert_same_tables(out, plain_al_screen, SCREEN_TABLES)
    committed_once(out)
    assert not (out / "jobflow" / "docs.json").exists()  # nothing in the file store
    db = mongo_server.client()[mongo_db]
    names = sorted(d["name"] for d in db.outputs.find({}, {"name": 1}))
    # --workers 1: the 4 compounds in one batch job (COMPOUNDS_PER_WORKER); the fan-out's output collector
    assert names == [
        "assemble tables",
        "find candidates",
        "screen batch 1/1",
        "screen in batches",
        "store_inputs",
    ]
    assert db.outputs_data.count_documents({}) == 0  # the candidates are files in the screen folder
    from semcgcnn.workflows.screen.handoff import read_index

    found = db.outputs.find_one({"name": "find candidates"})["output"]
    assert found["n_candidates"] == found["n_todo"] == N_AL == len(read_index(out)["compound_ids"])
    summary = db.outputs.find_one({"name": "assemble tables"})["output"]
    assert summary["n_compounds"] == N_AL and summary["table_rows"]["slabs"] == summary["n_slabs"] > 20


def test_a_configured_store_with_only_a_docs_store_is_enough(
    plain_al_screen, mongo_server, mongo_db, tmp_path
):
    """No job writes to an additional store, so a JOB_STORE of a docs store alone screens."""
    config = tmp_path / "jobflow.yaml"
    config.write_text(f"JOB_STORE:\n  docs_store: {mongo_server.mongo_store(mongo_db, 'outputs')}\n")
    res = _engine_jobflow(tmp_path / "screen", config, *AL_SCREEN)
    assert res.returncode == 0, res.stderr
    assert_same_tables(tmp_path / "screen", plain_al_screen, SCREEN_TABLES)


def test_no_job_document_grows_with_the_number_of_candidates(mongo_server, mongo_db, tmp_path):
    """8 and 24 candidates: no ``data`` document, no candidate structure in any job document, and
    the largest job document grows by less than 16 B per candidate (a reference per batch job in
    the fan-out's output, at most FAN_OUT_WIDTH of them)."""
    largest = {}
    client = mongo_server.client()
    for n in (8, 24):
        db = f"{mongo_db}_{n}"
        config = mongo_server.write_jobflow_config(tmp_path / f"jobflow{n}.yaml", db)
        res = _engine_jobflow(tmp_path / f"screen{n}", config, *SMALL_CELLS, "--limit", str(n))
        assert res.returncode == 0, res.stderr
        largest[n] = largest_documents(client, db)
        assert client[db].outputs_data.count_documents({}) == 0
        for doc in client[db].outputs.find({}):
            assert find_key(doc, "structure") == [], doc["name"]  # no candidate's structure in a job document
        client.drop_database(db)
    growth = (largest[24]["outputs"] - largest[8]["outputs"]) / 16
    print(
        f"largest job document {largest[8]['outputs']} → {largest[24]['outputs']} B "
        f"({growth:.0f} B per candidate)"
    )
    assert growth < 16


def test_the_fan_out_is_a_tree_of_bounded_width():
    """100,000 candidates in batch jobs of 8: every fan-out job replaces itself with at most
    FAN_OUT_WIDTH jobs, and the leaves cover every position once, in order."""
    from semcgcnn.workflows.screen.jobs import FAN_OUT_WIDTH, screen_batches_job

    n, leaves, widths, depth = 100_000, [], [], 0
    frontier = [screen_batches_job.original("/tmp/nowhere", n, {}, 8, 8)]
    while frontier:
        depth += 1
        nxt = []
        for resp in frontier:
            jobs = resp.replace.jobs
            widths.append(len(jobs))
            for j in jobs:
                if j.function.__name__ == "screen_batches_job":
                    nxt.append(screen_batches_job.original(*j.function_args, **j.function_kwargs))
                else:
                    leaves.append(tuple(j.function_args[1:3]))
        frontier = nxt
    assert max(widths) <= FAN_OUT_WIDTH and depth == 3
    assert leaves == [(i, min(i + 8, n)) for i in range(0, n, 8)]
