"""The small screen that the workflow-manager tests run (4 Al–Mg compounds, one part per compound)
and its plain ``semcgcnn screen`` run, the reference their tables must equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SEMCGCNN = str(Path(sys.executable).with_name("semcgcnn"))
AL_SCREEN = ("--elements", "Al", "--limit", "4", "--workers", "1", "--batch-size", "1")
N_AL = 4
LABEL = ("--miller", "0", "0", "1", "--backend", "gpaw", "--preset", "fast")  # the label Flows' settings
SCREEN_TABLES = {f"{t}.parquet" for t in ("compounds", "slabs", "predictions", "facets", "wulff", "errors")}


def semcgcnn(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The ``semcgcnn`` command of this environment (``env``: extra variables; no MP key)."""
    env = {**os.environ, "COLUMNS": "200", **(env or {})}
    env.pop("MP_API_KEY", None)
    return subprocess.run([SEMCGCNN, *args], capture_output=True, text=True, timeout=600, env=env)


def plain_screen(out: Path) -> Path:
    """Run the plain ``semcgcnn screen`` of :data:`AL_SCREEN` into ``out``."""
    res = semcgcnn("screen", *AL_SCREEN, "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


def committed_once(out: Path, n: int = N_AL) -> list[str]:
    """The compounds committed to ``out``'s part store; each of the ``n`` exactly once."""
    done = [cid for p in (out / "parts").glob("part-*") for cid in json.loads((p / "done.json").read_text())]
    assert len(done) == len(set(done)) == n, done
    return done
