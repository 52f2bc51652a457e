"""A disk that fills up, for real: a small tmpfs mounted for the test (root only; skipped with the
reason where mounting is not permitted). A full disk costs one line naming the path and the free
space, never a traceback; a table and its companions are committed together or not at all; and
once there is room again, ``--resume`` finishes the screen with the tables of an undisturbed run."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cli_runner import run_cli

SEMCGCNN = str(Path(sys.executable).with_name("semcgcnn"))
ENV = {**os.environ, "COLUMNS": "200"}
ENV.pop("MP_API_KEY", None)
# the three Mg-Al cells of at most 4 atoms, one part each
SCREEN = ("screen", "--elements", "Al", "--max-atoms", "4", "--workers", "1", "--batch-size", "1")
TABLES = ("compounds", "slabs", "predictions", "facets", "wulff", "errors")
PAGE = 4096


def _usage(folder: Path) -> int:
    """Bytes a tmpfs spends on the files under ``folder`` (whole pages per file)."""
    return sum(math.ceil(p.stat().st_size / PAGE) * PAGE for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kib)``: a fresh tmpfs of ``kib`` KiB; ``small_disk.grow(kib)`` resizes it."""
    mounts = []

    def mount(kib: int) -> Path:
        where = tmp_path / f"disk{len(mounts)}"
        where.mkdir()
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")
        mounts.append(where)
        return where

    def grow(where: Path, kib: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={kib}k", str(where)], check=True)

    mount.grow = grow
    yield mount
    for where in reversed(mounts):
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "screen"
    res = run_cli(*SCREEN, "--out", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def _assert_one_line_full_disk(res: subprocess.CompletedProcess, folder: Path) -> None:
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.stderr.count("error:") == 1 and "no space left on device" in res.stderr, res.stderr
    assert f"cannot write {folder}" in res.stderr and " free on " in res.stderr, res.stderr


def _assert_same_tables(out: Path, reference: Path) -> None:
    for name in TABLES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / f"{name}.parquet"), pd.read_parquet(reference / f"{name}.parquet"), obj=name
        )


def test_a_disk_full_while_committing_parts_is_one_line_and_resume_recovers(small_disk, reference):
    parts = _usage(reference / "parts")
    disk = small_disk(parts // 2 // 1024)
    out = disk / "screen"
    res = run_cli(*SCREEN, "--out", str(out))
    _assert_one_line_full_disk(res, out / "parts")
    committed = list((out / "parts").glob("part-*"))
    assert 0 < len(committed) < len(list((reference / "parts").glob("part-*"))), "not stopped mid-run"
    assert not list((out / "parts").glob(".tmp-*")), "half-written part left"
    assert not list(out.glob("*.parquet"))
    small_disk.grow(disk, 4 * _usage(reference) // 1024)
    res = run_cli(*SCREEN, "--out", str(out), "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    _assert_same_tables(out, reference)


def test_a_disk_full_while_assembling_leaves_no_table_and_resume_recovers(small_disk, reference):
    parts = _usage(reference / "parts")
    tables = _usage(reference) - parts
    disk = small_disk((parts + 3 * PAGE + tables // 2) // 1024)
    out = disk / "screen"
    res = run_cli(*SCREEN, "--out", str(out))
    _assert_one_line_full_disk(res, out)
    n_parts = len(list((reference / "parts").glob("part-*")))
    assert len(list((out / "parts").glob("part-*"))) == n_parts, "the disk filled before the assembly"
    assert not list(out.glob("*.parquet")) and not list(out.glob(".*.tmp")), sorted(os.listdir(out))
    small_disk.grow(disk, 4 * _usage(reference) // 1024)
    res = run_cli(*SCREEN, "--out", str(out), "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    _assert_same_tables(out, reference)


@pytest.fixture(scope="module")
def slab_file(tmp_path_factory) -> Path:
    from semcgcnn.datasets import load

    path = tmp_path_factory.mktemp("slab") / "slab.json"
    path.write_text(load("elemental_slabs")[0].structure.to_json())
    return path


def test_predict_on_a_full_disk_writes_both_tables_or_neither(small_disk, slab_file, tmp_path):
    ok = run_cli("predict", str(slab_file), "--out", str(tmp_path / "p.parquet"))
    assert ok.returncode == 0, ok.stderr[-3000:]
    preds = math.ceil((tmp_path / "p.parquet").stat().st_size / PAGE) * PAGE
    disk = small_disk(preds // 1024)  # room for the predictions table, not for its errors table too
    res = run_cli("predict", str(slab_file), "--out", str(disk / "p.parquet"))
    _assert_one_line_full_disk(res, disk)
    assert sorted(os.listdir(disk)) == [], "a table was written without its errors file (or a temp left)"
    empty = small_disk(4)  # one page: nothing fits
    res = run_cli("predict", str(slab_file), "--out", str(empty / "p.parquet"))
    _assert_one_line_full_disk(res, empty)
    assert sorted(os.listdir(empty)) == []


@pytest.mark.parametrize(
    "command, table",
    [("report", "wulff"), ("dissolution", "compounds"), ("select", "predictions"), ("report", "errors")],
)
def test_readers_of_a_finished_screen_name_a_truncated_table_in_one_line(reference, tmp_path, command, table):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(reference, run)
    path = run / f"{table}.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a copy or a disk cut short
    extra = {
        "report": ("--out", str(tmp_path / "r.html")),
        "dissolution": ("--source", "mlip"),
        "select": ("--budget", "2", "--out", str(tmp_path / "picks")),
    }[command]
    res = run_cli(command, str(run), *extra)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert res.stderr.count("error:") == 1 and f"{path}: damaged table" in res.stderr, res.stderr
    assert "--resume" in res.stderr, res.stderr


def test_check_tables_passes_a_finished_screen_and_names_the_damaged_table(reference, tmp_path):
    import shutil

    from semcgcnn.pipeline.screen.results import DamagedTableError, check_tables

    check_tables(reference)
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    (run / "facets.parquet").write_bytes(b"PAR1 not a table")
    with pytest.raises(DamagedTableError, match=r"facets\.parquet: damaged table"):
        check_tables(run)
