"""`semcgcnn report`: one self-contained HTML file for a real small screen (and for the study
models), opened in headless Chromium, whose screenshot must show the figures."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from backends_required import skip_unless

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
requires_chromium = skip_unless(
    CHROMIUM is not None, "Chromium not installed (as root: apt-get install -y chromium chromium-driver)"
)
SCREEN_SECTIONS = ("summary", "ranked", "distributions", "wulff", "dissolution", "errors")
HIST_BLUE = np.array([0x3B, 0x75, 0xAF])  # the histograms' bar colour (pipeline/report/figures.py)


@pytest.fixture(scope="module")
def report_html(cli, small_screen, tmp_path_factory) -> Path:
    """The report of a copy of the small screen, with no dissolution.parquet: the report computes
    the potentials itself (offline source)."""
    tmp = tmp_path_factory.mktemp("report")
    run = Path(shutil.copytree(small_screen, tmp / "screen"))
    res = cli("report", str(run), "--out", str(tmp / "report.html"))
    assert res.returncode == 0, res.stderr
    assert not (run / "dissolution.parquet").exists()  # a report only reads the run folder
    return tmp / "report.html"


def _images(text: str) -> list[str]:
    return re.findall(r'<img[^>]*\bsrc="([^"]*)"', text)


def test_report_is_self_contained_with_every_section(report_html, small_screen):
    import pandas as pd

    text = report_html.read_text(encoding="utf-8")
    assert not re.search(r"https?://", text) and "<script" not in text and "<link" not in text
    assert not re.search(r'\b(src|href)="(?!data:|#)', text)  # only inline data and in-page anchors
    images = _images(text)
    assert len(images) >= 3  # histograms, ≥ 1 Wulff shape, the Φ vs potential scatter
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    for sid in SCREEN_SECTIONS:
        assert f'<section id="{sid}">' in text
    wulff = pd.read_parquet(small_screen / "wulff.parquet")
    for r in wulff.itertuples():  # every compound ranked, with its trust flag and 1σ
        assert f'<td class="l">{r.compound_id}</td>' in text and html.escape(r.trust.split(";")[0]) in text
        assert f"{r.weighted_work_function_eV_std:.4g}" in text
    assert "Ac" in text and "no aqueous species of Ac" in text  # the NaN potentials keep their reason


def _screenshot(html: Path, png: Path, profile: Path) -> np.ndarray:
    from PIL import Image

    assert CHROMIUM, "Chromium not installed (as root: apt-get install -y chromium chromium-driver)"
    res = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            "--window-size=1200,3000",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert png.is_file(), res.stderr[-2000:]
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


@requires_chromium
def test_report_renders_its_figures_in_chromium(report_html, tmp_path):
    with_images = _screenshot(report_html, tmp_path / "page.png", tmp_path / "profile")
    bare = tmp_path / "bare.html"  # the same page without its images
    bare.write_text(re.sub(r"<img[^>]*>", "", report_html.read_text(encoding="utf-8")), encoding="utf-8")
    without = _screenshot(bare, tmp_path / "bare.png", tmp_path / "profile")

    def bars(a: np.ndarray) -> int:  # pixels of the histogram bars' colour
        return int((np.abs(a - HIST_BLUE).max(axis=2) < 12).sum())

    def inked(a: np.ndarray) -> int:
        return int((a.min(axis=2) < 235).sum())

    def colours(a: np.ndarray) -> int:
        return len(np.unique(a.reshape(-1, 3) // 8, axis=0))

    assert bars(with_images) > 2000 and bars(without) == 0
    assert inked(with_images) > inked(without) + 50_000
    assert colours(with_images) > 3 * colours(without)


def test_training_report_parity_matches_the_card(cli, tmp_path):
    card = REPO / "studies" / "models" / "semcgcnn-random-s0.json"
    out = tmp_path / "training.html"
    res = cli("report", str(card), "--out", str(out))  # a card: detected as a training report
    assert res.returncode == 0, res.stderr
    text = out.read_text(encoding="utf-8")
    assert '<section id="model-semcgcnn-random-s0">' in text and not re.search(r"https?://", text)
    assert len(_images(text)) == 2  # parity, learning curves
    test = json.loads(card.read_text())["metrics"]["test"]
    # the test rows recovered from recipe/split/seed give the card's own test MAE
    for task, unit in (("surface_energy", "eV/Å²"), ("work_function", "eV")):
        mae = f"{test[task]['mae']:.4g}"
        assert (
            f'<td class="l">{task}</td><td class="l">{unit}</td><td>{test[task]["n"]}</td><td>{mae}</td>'
            in text
        )
    assert "semcgcnn-random-s0.history.json" in text


def test_report_user_mistakes_are_one_line(cli, tmp_path):
    res = cli("report", str(tmp_path), "--out", str(tmp_path / "r.html"))
    assert res.returncode != 0 and "not a finished screen" in res.stderr and "Traceback" not in res.stderr
