"""The command line: dataset listing, featurize summary, and one-line errors for user mistakes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SEMCGCNN = str(Path(sys.executable).with_name("semcgcnn"))


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([SEMCGCNN, *args], capture_output=True, text=True, timeout=300, env=env)


def test_datasets_lists_the_five_shipped_sets_with_real_counts():
    out = _cli("datasets")
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") > 3}
    for name, count in {"mg_binary_slabs": 3218, "elemental_slabs": 801, "palizhati_slabs": 3033,
                        "mg_binary_bulk": 210, "elemental_refs": 789}.items():
        assert f"│ {count}" in rows[name].replace("  ", " ") or f" {count} " in rows[name]
    assert "eV/Å²" in out.stdout


def test_featurize_prints_summary():
    out = _cli("featurize", "elemental_slabs")
    assert out.returncode == 0, out.stderr
    assert "801" in out.stdout and "surface atoms" in out.stdout


def test_user_mistakes_give_one_line_errors_not_tracebacks():
    for args in (("featurize", "no_such_set"), ("featurize", "mg_binary_bulk"), ("featurize", "--radius", "-1")):
        out = _cli(*args)
        assert out.returncode == 2
        assert "Traceback" not in out.stderr and "error:" in out.stderr
