"""The README's pictures of `semcgcnn report` and `semcgcnn dissolution` on the shipped-default
screen (``bash scripts/run.sh`` → ``out/screen``):

* ``reports/dissolution_vs_wf.png``: Wulff work function against the dissolution equilibrium
  potential (paper Fig. 6b), the figure the report embeds;
* ``reports/report_screenshot.png``: the top of the HTML report in headless Chromium (< 500 kB);
* ``reports/dissolution.md`` / ``.json``: the numbers (potentials per source, examples, timings).

    python studies/report_figures.py [--screen out/screen]

Needs Chromium (``apt-get install -y chromium``) for the screenshot. A study, not part of the library.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from semcgcnn.pipeline.analysis.dissolution import DEFAULT_CONDITIONS, equilibrium_potential
from semcgcnn.pipeline.analysis.dissolution_table import dissolution_frame, summary, write_dissolution
from semcgcnn.pipeline.report import build_screen_report
from semcgcnn.pipeline.report.figures import scatter_wf_vs_potential
from semcgcnn.pipeline.report.screen import ranked
from semcgcnn.pipeline.screen.results import DISSOLUTION, has_table, read_tables

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("report_figures")
EXAMPLES = ("Mg2Si", "MgZn2", "Mg17Al12", "Mg2Ge", "Mg3As2", "MgAs4", "CaMg2", "Mg2Ni", "MgCu2", "MgH2")


def screenshot(html: Path, png: Path, height: int = 2600) -> None:
    """The top ``height`` px of the page at 1200 px wide, as a 256-colour PNG."""
    from PIL import Image

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.png"
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={tmp}/profile",
                f"--screenshot={raw}",
                f"--window-size=1200,{height}",
                html.as_uri(),
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )
        Image.open(raw).convert("RGB").quantize(256).save(png, optimize=True)


def main(
    screen: Annotated[Path, typer.Option(help="A finished screen folder.")] = REPO / "out" / "screen",
    out: Annotated[Path, typer.Option(help="Folder for the figures and numbers.")] = REPO / "reports",
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    if not has_table(screen, DISSOLUTION):
        write_dissolution(screen, dissolution_frame(screen, "mlip"), "mlip")
    t_diss = time.perf_counter() - t0
    t1 = time.perf_counter()
    doc = build_screen_report(screen)
    t_report = time.perf_counter() - t1
    html = Path(tempfile.mkdtemp()) / "report.html"
    html.write_text(doc, encoding="utf-8")
    screenshot(html, out / "report_screenshot.png")

    tables = read_tables(screen)
    diss = tables[DISSOLUTION]
    rank = ranked(tables, diss)
    mg = equilibrium_potential("Mg", 0.0).equilibrium_potential_V_SHE
    (out / "dissolution_vs_wf.png").write_bytes(
        scatter_wf_vs_potential(
            rank["weighted_work_function_eV"].to_numpy(float),
            rank["weighted_work_function_eV_std"].to_numpy(float),
            rank["equilibrium_potential_V_SHE"].to_numpy(float),
            list(rank["formula"]),
            (rank["trust"] == "trusted").to_numpy(bool),
            mg,
        )
    )

    ok = diss["equilibrium_potential_V_SHE"].map(math.isfinite)
    both = rank[np.isfinite(rank["equilibrium_potential_V_SHE"])]
    examples = diss[diss["formula"].isin(EXAMPLES)][
        ["compound_id", "formula", "formation_energy_eV_per_atom", "equilibrium_potential_V_SHE", "reaction"]
    ]
    res = {
        "screen": str(screen.relative_to(REPO)) if screen.is_relative_to(REPO) else str(screen),
        "conditions": DEFAULT_CONDITIONS.describe(),
        "n_compounds": len(diss),
        "with_potential_by_source": summary(diss),
        "reasons_without": diss[~ok]["reason"].value_counts().to_dict(),
        "pure_Mg_V_SHE": mg,
        "potential_range_V_SHE": [
            float(diss[ok]["equilibrium_potential_V_SHE"].min()),
            float(diss[ok]["equilibrium_potential_V_SHE"].max()),
        ],
        "n_above_pure_Mg": int((diss[ok]["equilibrium_potential_V_SHE"] > mg).sum()),
        "spearman_wf_vs_potential": float(
            pd.Series(both["weighted_work_function_eV"])
            .rank()
            .corr(pd.Series(both["equilibrium_potential_V_SHE"]).rank())
        ),
        "n_in_scatter": len(both),
        "examples": examples.to_dict("records"),
        "dissolution_s": round(t_diss, 1),
        "report_build_s": round(t_report, 1),
        "report_MB": round(len(doc) / 1e6, 2),
        "machine": "2-core CPU, no GPU (shared)",
    }
    (out / "dissolution.json").write_text(json.dumps(res, indent=1, default=float))
    _markdown(res, examples, out / "dissolution.md")
    log.info(
        "wrote %s",
        ", ".join(str(out / f) for f in ("dissolution_vs_wf.png", "report_screenshot.png", "dissolution.md")),
    )


def _markdown(res: dict, examples: pd.DataFrame, path: Path) -> None:
    lines = [
        "# Dissolution equilibrium potential vs Wulff work function (shipped-default screen)",
        "",
        f"Screen `{res['screen']}`, {res['n_compounds']} compounds, {res['conditions']}; {res['machine']}.",
        "",
        "- Compounds per formation-energy source with a potential, and without one: "
        + "; ".join(f"{k}: {v}" for k, v in res["with_potential_by_source"].items()),
        "- Without a potential, by reason: "
        + "; ".join(f"{k}: {v}" for k, v in res["reasons_without"].items()),
        f"- Pure Mg at these conditions: {res['pure_Mg_V_SHE']:.3f} V vs SHE (table E° −2.357 V, textbook −2.372 V, "
        "+ (kT/2) ln 10⁻⁶ = −0.177 V)",
        f"- Potentials span {res['potential_range_V_SHE'][0]:.2f} … {res['potential_range_V_SHE'][1]:.2f} V; "
        f"{res['n_above_pure_Mg']} compounds lie above pure Mg",
        f"- Spearman rank correlation of Wulff Φ and the potential over the {res['n_in_scatter']} compounds with "
        f"both: {res['spearman_wf_vs_potential']:.2f}",
        f"- Timings: dissolution {res['dissolution_s']} s (0 when dissolution.parquet existed), report build "
        f"{res['report_build_s']} s ({res['report_MB']} MB HTML)",
        "",
        "| compound | formula | ΔE_f (eV/atom) | E (V vs SHE) | reaction |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in examples.itertuples():
        lines.append(
            f"| {r.compound_id} | {r.formula} | {r.formation_energy_eV_per_atom:.3f} | "
            f"{r.equilibrium_potential_V_SHE:.3f} | {r.reaction} |"
        )
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    typer.run(main)
