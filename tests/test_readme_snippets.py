"""Every Python snippet of the README runs as written (each in its own interpreter, in a fresh
folder): the analyst's and the workflow user's first lines must not raise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _run(code: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_readme_has_the_snippets_this_test_knows():
    assert len(SNIPPETS) == 5
    assert "LaunchPad.auto_load()" in SNIPPETS[4]


@pytest.mark.parametrize("k", range(4))
def test_snippet_runs(k, tmp_path):
    res = _run(SNIPPETS[k], tmp_path)
    assert res.returncode == 0, f"README snippet {k} failed:\n{SNIPPETS[k]}\n{res.stderr[-3000:]}"
    if "p.predict(slabs" in SNIPPETS[k]:
        assert "Mg0001-0" in res.stdout and "in domain" in res.stdout
    if "run_locally" in SNIPPETS[k]:
        assert (tmp_path / "out/al/wulff.parquet").exists()
        assert "FutureWarning" not in res.stderr, res.stderr[-2000:]  # jobflow's monty cd, per job


def test_the_fireworks_snippet_adds_its_workflow_to_the_configured_launchpad(
    mongo_server, mongo_db, tmp_path
):
    """FireWorks' own configuration (FW_CONFIG_FILE → LAUNCHPAD_LOC) points the snippet's
    ``LaunchPad.auto_load()`` at the test server, initialised as a user does once (``lpad reset``)."""
    lp = tmp_path / "my_launchpad.yaml"
    lp.write_text(f"host: {mongo_server.host}\nport: {mongo_server.port}\nname: {mongo_db}\n")
    cfg = tmp_path / "FW_config.yaml"
    cfg.write_text(f"LAUNCHPAD_LOC: {lp}\n")
    from fireworks import LaunchPad

    LaunchPad.from_file(str(lp)).reset("", require_password=False)  # a new database: `lpad reset` once
    res = _run(SNIPPETS[4], tmp_path, {"FW_CONFIG_FILE": str(cfg)})
    assert res.returncode == 0, res.stderr[-3000:]
    with mongo_server.client() as client:
        assert client[mongo_db].workflows.count_documents({}) == 1
        assert client[mongo_db].fireworks.count_documents({}) >= 3
