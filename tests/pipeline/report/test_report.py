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
from backends_required import requires_mlip, skip_unless

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
requires_chromium = skip_unless(
    CHROMIUM is not None, "Chromium not installed (as root: apt-get install -y chromium chromium-driver)"
)
SCREEN_SECTIONS = ("summary", "ranked", "others", "distributions", "wulff", "dissolution", "errors")
HIST_BLUE = np.array([0x3B, 0x75, 0xAF])  # the histograms' bar colour (pipeline/report/figures.py)


@pytest.fixture(scope="module")
def first_report(cli, small_screen, tmp_path_factory) -> tuple[Path, Path, str]:
    """``(run folder, report, stderr)``: the report of a copy of the small screen, with no
    dissolution.parquet: the report computes the potentials itself (offline source)."""
    tmp = tmp_path_factory.mktemp("report")
    run = Path(shutil.copytree(small_screen, tmp / "screen"))
    res = cli("report", str(run), "--out", str(tmp / "report.html"))
    assert res.returncode == 0, res.stderr
    return run, tmp / "report.html", res.stderr


@pytest.fixture(scope="module")
def report_html(first_report) -> Path:
    return first_report[1]


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


def _rows(section: str) -> list[list[str]]:
    """The body rows of a section's table, each as its cells' text."""
    body = section.split("</tr>", 1)[1]  # past the header row
    return [
        [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in body.split("</tr>")
        if "<td" in row
    ]


@pytest.fixture(scope="module")
def mixed_report(cli, mixed_screen, tmp_path_factory) -> str:
    """The report of a copy of the Mg–Al, –Cl, –P, –S, –Se screen."""
    tmp = tmp_path_factory.mktemp("mixed_report")
    run = Path(shutil.copytree(mixed_screen, tmp / "screen"))
    res = cli("report", str(run), "--out", str(tmp / "report.html"))
    assert res.returncode == 0, res.stderr
    return (tmp / "report.html").read_text(encoding="utf-8")


def test_the_report_ranks_the_intermetallics_and_lists_the_others_apart(mixed_report, mixed_screen):
    """Ranked: only the intermetallics in domain (MgAl ×2, MgAl3), by Φ; the other table: the other
    10 (MgCl2, MgS ionic and out of domain; Mg3P2, MgP4, MgSe semiconductor/Zintl) with their class
    and why; the Wulff shapes drawn are the ranked intermetallics', not trusted MgP4's."""
    import pandas as pd

    wulff = pd.read_parquet(mixed_screen / "wulff.parquet").set_index("compound_id")
    ranked = _rows(_section(mixed_report, "ranked"))
    assert [r[:4] for r in ranked] == [
        ["1", "mp-1039019", "MgAl", "P-6m2"],
        ["2", "mp-1038916", "MgAl3", "I4/mmm"],
        ["3", "mp-1039141", "MgAl", "P4/mmm"],
    ]
    for r in ranked:  # Φ and its 1σ, γ's 1σ in J/m² as the wulff table holds them
        w = wulff.loc[r[1]]
        assert r[4:8] == [
            f"{w.weighted_work_function_eV:.4g}",
            f"{w.weighted_work_function_eV_std:.4g}",
            f"{w.weighted_surface_energy_J_per_m2:.4g}",
            f"{w.weighted_surface_energy_J_per_m2_std:.4g}",
        ]
    others = {r[0]: r for r in _rows(_section(mixed_report, "others"))}
    assert set(others) == set(wulff.index) - {r[1] for r in ranked} and len(others) == 10
    for cid, r in others.items():
        assert r[1:4] == [
            wulff.loc[cid, "formula"],
            wulff.loc[cid, "spacegroup_symbol"],
            wulff.loc[cid, "compound_class"],
        ]
    assert {cid: r[4] for cid, r in others.items() if r[3] == "semiconductor/Zintl"} == dict.fromkeys(
        ["mp-8085", "mp-384", "mp-1018040", "mp-10760", "mp-13031"], "not an intermetallic"
    )
    assert others["mp-1315"][3:5] == [
        "ionic",
        "not an intermetallic; out of domain: elements unseen in training: S",
    ]
    assert others["mp-384"][-1] == "trusted"  # trusted, yet not ranked
    assert "Other compounds: not ranked with the intermetallics (10)" in mixed_report
    # the summary's last table: the compounds by class
    assert _rows(_section(mixed_report, "summary"))[-3:] == [
        ["intermetallic", "3"],
        ["semiconductor/Zintl", "5"],
        ["ionic", "5"],
    ]
    shapes = re.findall(r'<img alt="(#[^"]*)"', _section(mixed_report, "wulff"))
    assert shapes == ["#1 MgAl (mp-1039019)", "#2 MgAl3 (mp-1038916)", "#3 MgAl (mp-1039141)"]


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


def _section(text: str, sid: str) -> str:
    return text[text.index(f'<section id="{sid}">') :].split("</section>", 1)[0]


@requires_mlip
def test_the_potentials_are_kept_in_the_run_folder_and_read_by_the_next_report(cli, first_report, tmp_path):
    """The first report computes the potentials (a bar over the 4 compounds) and keeps them in
    dissolution.parquet, keyed by the screen; the second reads them: the file is not rewritten
    (same bytes, same mtime), no potential runs (no bar), and the report shows the same values."""
    import pandas as pd

    from semcgcnn.pipeline.analysis.dissolution import equilibrium_potential
    from semcgcnn.pipeline.analysis.dissolution_table import potential_name
    from semcgcnn.schema import read_metadata

    run, first, stderr = first_report
    cache = run / "dissolution.parquet"
    assert cache.is_file() and "formation energies" in stderr and "4/4" in stderr
    df = pd.read_parquet(cache)
    assert list(df["compound_id"]) == list(pd.read_parquet(run / "compounds.parquet")["compound_id"])
    key = read_metadata(cache)["parameters"]
    assert key["compound_ids"] == list(df["compound_id"]) and key["source"] == "mlip"
    assert key["potential"] == potential_name() and potential_name().startswith("SevenNet 7net-0")
    ok = df[df["equilibrium_potential_V_SHE"].notna()]
    assert len(ok) == 2  # the two Mg–Ag compounds (Ac has no aqueous species in the table)
    for r in ok.itertuples():
        e = equilibrium_potential(r.formula, r.formation_energy_eV_per_atom).equilibrium_potential_V_SHE
        assert r.equilibrium_potential_V_SHE == pytest.approx(e) and -2.6 < e < 0.8
    before, mtime = cache.read_bytes(), cache.stat().st_mtime_ns
    text1 = first.read_text(encoding="utf-8")
    assert "computed now (source mlip), kept in dissolution.parquet" in text1

    res = cli("report", str(run), "--out", str(tmp_path / "again.html"))

    assert res.returncode == 0, res.stderr
    assert cache.stat().st_mtime_ns == mtime and cache.read_bytes() == before
    assert "formation energies" not in res.stderr  # no potential ran
    text2 = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert "read from dissolution.parquet" in text2
    assert _section(text2, "ranked") == _section(text1, "ranked")  # E_diss of every compound
    for r in ok.itertuples():
        assert f"<td>{r.equilibrium_potential_V_SHE:.4g}</td>" in _section(text2, "ranked")


@pytest.fixture(scope="module")
def mgal_screen(cli, tmp_path_factory) -> Path:
    """A real screen of one shipped compound, hexagonal MgAl (mp-1039019), whose Wulff shape's
    largest facet is (0 0 1)."""
    from semcgcnn.datasets import load

    tmp = tmp_path_factory.mktemp("mgal")
    (tmp / "in").mkdir()
    (bulk,) = [r.structure for r in load("mg_binary_bulk") if r.structure_id == "mp-1039019"]
    (tmp / "in" / "mp-1039019.json").write_text(bulk.to_json())
    res = cli("screen", "--structures", str(tmp / "in"), "--workers", "1", "--out", str(tmp / "screen"))
    assert res.returncode == 0, res.stderr
    return tmp / "screen"


@requires_mlip
def test_a_cache_of_another_screen_or_potential_is_not_read(first_report, mgal_screen, tmp_path):
    """The small screen's dissolution.parquet is not the MgAl screen's (other compounds); with its
    potential's name changed it is not its own screen's either; as written, it is."""
    import pyarrow.parquet as pq

    from semcgcnn.pipeline.analysis.dissolution_table import read_cached
    from semcgcnn.schema import read_metadata, write_parquet

    run, _, _ = first_report
    other = Path(shutil.copytree(mgal_screen, tmp_path / "mgal"))
    shutil.copy(run / "dissolution.parquet", other / "dissolution.parquet")
    assert read_cached(other) is None
    mine = Path(shutil.copytree(run, tmp_path / "small"))
    assert (
        list(read_cached(mine)["compound_id"])
        == read_metadata(mine / "dissolution.parquet")["parameters"]["compound_ids"]
    )
    meta = read_metadata(mine / "dissolution.parquet")
    meta["parameters"]["potential"] = "CHGNet 0.3.0 (MPtrj, PBE(+U))"
    write_parquet(mine / "dissolution.parquet", pq.read_table(mine / "dissolution.parquet"), meta)
    assert read_cached(mine) is None


def _ink_below_legend(png: bytes) -> int:
    """Non-white pixels of a Wulff panel below its title and legend (the top 40 %): the shape's."""
    import io

    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return int((a[int(0.4 * len(a)) :].min(axis=2) < 250).sum())


def test_a_shape_whose_largest_facet_is_001_is_drawn_and_one_that_cannot_be_is_named(mgal_screen):
    """pymatgen's plot of a shape whose largest facet is (0 0 1) divides by zero (a RuntimeWarning,
    NaN view angles, a blank panel); the report draws it seen from above, with no warning. Facets
    that enclose no crystal (MgAl's (1 0 0) and (1 1 0) prism alone) get a line saying why, not a panel."""
    import warnings

    import pandas as pd

    from semcgcnn.pipeline.report import figures
    from semcgcnn.pipeline.report.screen import wulff_grid
    from semcgcnn.pipeline.screen import results
    from semcgcnn.pipeline.slabs import conventional_cell

    (bulk,) = results.bulk_structures(results.read_manifest(mgal_screen), ["mp-1039019"]).values()
    lattice = conventional_cell(bulk)[0].lattice
    f = pd.read_parquet(mgal_screen / "facets.parquet")
    assert pd.read_parquet(mgal_screen / "wulff.parquet")["dominant_facet"].tolist() == ["(0 0 1)"]
    millers = list(zip(f["miller_h"], f["miller_k"], f["miller_l"], strict=True))
    gamma = dict(zip(millers, f["surface_energy_eV_per_A2"], strict=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = figures.wulff_shape(lattice, millers, list(f["surface_energy_eV_per_A2"]), "MgAl")
        grid = wulff_grid(
            [
                ("#1 MgAl", lattice, millers, list(gamma.values()), "all facets"),
                ("#2 MgAl prism", lattice, [(1, 0, 0), (1, 1, 0)], [gamma[1, 0, 0], gamma[1, 1, 0]], "prism"),
            ]
        )
    assert [w for w in caught if issubclass(w.category, RuntimeWarning)] == []
    assert _ink_below_legend(png) > 5000  # the hexagonal prism seen from above, not a blank panel
    assert len(_images(grid)) == 1
    assert '<p class="flag">#2 MgAl prism: no Wulff shape drawn (pymatgen WulffShape failed: ' in grid
    assert "Initial simplex is flat" in grid
