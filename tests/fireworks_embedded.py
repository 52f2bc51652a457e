"""FireWorks' embedded mode for tests (no MongoDB server can run here): a mongomock server
persisted in a JSON file (mongomock-persistence) and a jobflow job store of JSON files, shared by
the processes that follow one another (one adds the workflow, ``rlaunch`` runs it)."""

from __future__ import annotations

import json
from pathlib import Path


def fireworks_env(tmp_path: Path) -> dict[str, str]:
    """Environment variables that point FireWorks and jobflow at files under ``tmp_path``."""
    server = tmp_path / "mongomock.json"
    server.write_text("{}")
    store = {
        "JOB_STORE": {
            "docs_store": {"type": "JSONStore", "paths": str(tmp_path / "docs.json"), "read_only": False},
            "additional_stores": {
                "data": {"type": "JSONStore", "paths": str(tmp_path / "data.json"), "read_only": False}
            },
        }
    }
    config = tmp_path / "jobflow.yaml"
    config.write_text(json.dumps(store))  # JSON is YAML
    return {"MONGOMOCK_SERVERSTORE_FILE": str(server), "JOBFLOW_CONFIG_FILE": str(config)}
