"""jobflow's conventions under ``--engine jobflow``: the user's configured ``JOB_STORE`` (here a
MongoStore on the test server, ``mongo_server``) instead of the file store in ``OUT/jobflow``, and
job documents whose size does not grow with the screen: the candidates' structures go to the
``data`` store, at most ``CANDIDATES_PER_BLOB`` to a document.

The document sizes are measured on a representative screen, the 2-atom cells of the shipped set
(8 and 24 candidates, ≈ 15 s each here), not on the default 210 compounds (≈ 1.5 min)."""

from __future__ import annotations

import math
from pathlib import Path

from jobflow.utils.find import find_key
from mongo_server import largest_documents
from same_tables import assert_same_tables
from screen_reference import AL_SCREEN, N_AL, SCREEN_TABLES, committed_once, semcgcnn

from semcgcnn.workflows.schemas import CANDIDATES_PER_BLOB

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
    (blob,) = db.outputs_data.find({})  # the 4 candidates: one chunk
    assert [c["compound_id"] for c in blob["data"]] == db.outputs.find_one({"name": "find candidates"})[
        "output"
    ]["compound_ids"]
    summary = db.outputs.find_one({"name": "assemble tables"})["output"]
    assert summary["n_compounds"] == N_AL and summary["table_rows"]["slabs"] == summary["n_slabs"] > 20


def test_a_configured_store_without_a_data_store_is_a_one_line_error(mongo_server, mongo_db, tmp_path):
    config = tmp_path / "jobflow.yaml"
    config.write_text(f"JOB_STORE:\n  docs_store: {mongo_server.mongo_store(mongo_db, 'outputs')}\n")
    res = _engine_jobflow(tmp_path / "screen", config, *AL_SCREEN)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: jobflow's JOB_STORE") and "no 'data' additional store" in last


def test_no_job_document_grows_with_the_number_of_candidates(mongo_server, mongo_db, tmp_path):
    """8 and 24 candidates: the largest ``data`` document stays one chunk of CANDIDATES_PER_BLOB
    structures, and the largest job document grows by a compound id (and a share of a part's
    path) per candidate; the candidates' structures are in no job document."""
    largest, n_blobs = {}, {}
    client = mongo_server.client()
    for n in (8, 24):
        db = f"{mongo_db}_{n}"
        config = mongo_server.write_jobflow_config(tmp_path / f"jobflow{n}.yaml", db)
        res = _engine_jobflow(tmp_path / f"screen{n}", config, *SMALL_CELLS, "--limit", str(n))
        assert res.returncode == 0, res.stderr
        largest[n] = largest_documents(client, db)
        n_blobs[n] = client[db].outputs_data.count_documents({})
        for blob in client[db].outputs_data.find({}):
            assert len(blob["data"]) <= CANDIDATES_PER_BLOB
        for doc in client[db].outputs.find({}):
            assert find_key(doc, "structure") == [], doc["name"]  # no candidate's structure in a job document
        client.drop_database(db)
    assert n_blobs == {n: math.ceil(n / CANDIDATES_PER_BLOB) for n in (8, 24)}
    docs_growth = (largest[24]["outputs"] - largest[8]["outputs"]) / 16
    data_growth = (largest[24]["outputs_data"] - largest[8]["outputs_data"]) / 16
    print(
        f"largest job document {largest[8]['outputs']} → {largest[24]['outputs']} B "
        f"({docs_growth:.0f} B per candidate); largest data document {largest[8]['outputs_data']} → "
        f"{largest[24]['outputs_data']} B ({data_growth:.0f} B per candidate)"
    )
    assert docs_growth < 64
    assert abs(data_growth) < 64  # one chunk of 8 two-atom cells either way
    assert largest[24]["outputs_data"] < 64 * 1024
