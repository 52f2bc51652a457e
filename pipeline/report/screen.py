"""The report of a finished screen (``semcgcnn report RUN_DIR``): the intermetallics in domain ranked
with their 1σ and trust flags, the other compounds (semiconductor/Zintl, ionic, out of domain)
apart, distributions of the Wulff-weighted γ and Φ, Wulff shapes of the top intermetallics,
Φ against the dissolution equilibrium potential (paper Fig. 6b), and the errors by reason."""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.errors import UserError
from semcgcnn.pipeline.screen import results
from semcgcnn.pipeline.screen.compound_class import CLASSES, INTERMETALLIC, RULE
from semcgcnn.progress import QUIET, Bars

from . import figures
from .html import Section, image, page

log = logging.getLogger(__name__)
NOT_INTERMETALLIC = "not an intermetallic"


@dataclass(frozen=True)
class ReportConfig:
    """What the screen report shows (defaults defined once)."""

    top: int = 30  # rows of the ranked table
    wulff_shapes: int = 6  # Wulff shapes drawn (the top trusted compounds)
    dissolution_source: str = "mlip"  # when RUN_DIR has no dissolution.parquet: the offline default


def dissolution_for(run_dir: Path, cfg: ReportConfig, progress: Bars = QUIET) -> tuple[pd.DataFrame, str]:
    """The run's dissolution table and how it was had, in words: ``dissolution.parquet`` when it was
    computed for this screen, else computed now with the offline default source (a ``progress`` bar
    over the compounds) and kept there for the next report
    (:func:`~semcgcnn.pipeline.analysis.dissolution_table.dissolution_table`)."""
    from semcgcnn.pipeline.analysis.dissolution_table import dissolution_table

    try:
        return dissolution_table(run_dir, cfg.dissolution_source, progress=progress)
    except UserError as exc:
        log.warning("no dissolution potentials: %s", exc)
        return pd.DataFrame(
            columns=["compound_id", "equilibrium_potential_V_SHE", "formation_energy_source", "reason"]
        ), f"not available: {exc}"


def not_ranked_reason(row: pd.Series) -> str:
    """Why a compound is not ranked with the intermetallics ("" where it is): "not an intermetallic"
    (its ``compound_class``, :mod:`semcgcnn.pipeline.screen.compound_class`, is another) and/or
    "out of domain" with the domain verdict, "; "-joined."""
    reasons = [NOT_INTERMETALLIC] if row["compound_class"] != INTERMETALLIC else []
    if not row["compound_in_domain"]:
        reasons.append(f"out of domain: {row['domain_reason']}")
    return "; ".join(reasons)


def ranked(tables: dict[str, pd.DataFrame], diss: pd.DataFrame) -> pd.DataFrame:
    """Compounds with a Wulff shape, highest Wulff-weighted work function first (the nobler
    surfaces, paper §3.4), with 1σ, trust and domain flags and the dissolution potential.
    ``rank`` numbers the intermetallics in the model's domain, the ranked ones (<NA> for the others);
    ``not_ranked`` says why the others are not (:func:`not_ranked_reason`; "" for the ranked)."""
    w = tables["wulff"]
    w = w[np.isfinite(w["weighted_work_function_eV"].astype(float))]
    cols = (
        diss[["compound_id", "equilibrium_potential_V_SHE"]]
        if len(diss)
        else pd.DataFrame({"compound_id": [], "equilibrium_potential_V_SHE": []})
    )
    df = (
        w.merge(cols, on="compound_id", how="left")
        .sort_values(["weighted_work_function_eV", "compound_id"], ascending=[False, True])
        .reset_index(drop=True)
    )
    why = df.apply(not_ranked_reason, axis=1) if len(df) else pd.Series([], dtype=object)
    rank = pd.Series(pd.NA, index=df.index, dtype="Int64")
    rank[why == ""] = np.arange(1, int((why == "").sum()) + 1)
    df.insert(0, "rank", rank)
    df["not_ranked"] = why
    return df


def _values(df: pd.DataFrame) -> dict[str, pd.Series]:
    return {
        "Φ_eV": df["weighted_work_function_eV"],
        "Φ_std_eV": df["weighted_work_function_eV_std"],
        "γ_J_per_m2": df["weighted_surface_energy_J_per_m2"],
        "γ_std_J_per_m2": df["weighted_surface_energy_J_per_m2_std"],
    }


def _ranked_view(df: pd.DataFrame) -> pd.DataFrame:
    """The ranked intermetallics of :func:`ranked`, as the report's table shows them."""
    df = df[df["rank"].notna()]
    return pd.DataFrame(
        {
            "rank": df["rank"],
            "compound_id": df["compound_id"],
            "formula": df["formula"],
            "spacegroup": df["spacegroup_symbol"],
            **_values(df),
            # how settled the place is: the chance of the top 10 of its ranking
            "P_top10_highest_Φ": df["p_top10_highest_work_function"],
            "P_top10_lowest_Φ": df["p_top10_lowest_work_function"],
            "dominant_facet": df["dominant_facet"],
            "E_diss_V_SHE": df["equilibrium_potential_V_SHE"],
            "trust": df["trust"],
        }
    )


def _others_view(df: pd.DataFrame) -> pd.DataFrame:
    """The compounds of :func:`ranked` that are not ranked, by class (intermetallics out of domain
    first, then semiconductor/Zintl, then ionic), highest Φ first within a class."""
    df = df[df["rank"].isna()]
    df = df.iloc[np.argsort(df["compound_class"].map(CLASSES.index).to_numpy(), kind="stable")]
    return pd.DataFrame(
        {
            "compound_id": df["compound_id"],
            "formula": df["formula"],
            "spacegroup": df["spacegroup_symbol"],
            "class": df["compound_class"],
            "not ranked because": df["not_ranked"],
            **_values(df),
            "dominant_facet": df["dominant_facet"],
            "E_diss_V_SHE": df["equilibrium_potential_V_SHE"],
            "trust": df["trust"],
        }
    )


def _wulff_section(run_dir: Path, tables: dict[str, pd.DataFrame], rank: pd.DataFrame, k: int) -> Section:
    from semcgcnn.pipeline.slabs import conventional_cell

    sec = Section("wulff", f"Wulff shapes of the top {k} trusted intermetallics")
    rank = rank[rank["rank"].notna()]  # the ranked intermetallics
    top = rank[rank["trust"] == "trusted"].head(k)
    if top.empty:
        top = rank.head(k)
        sec.text(
            "No ranked intermetallic is trusted; the shapes below are the top of the ranking, untrusted.",
            "flag",
        )
    if top.empty:
        return sec.text("No intermetallic in the model's domain has a Wulff shape.")
    try:
        bulks = results.bulk_structures(results.read_manifest(run_dir), list(top["compound_id"]))
    except (UserError, OSError, KeyError) as exc:
        return sec.text(f"Bulk structures not available, no shapes drawn: {exc}", "flag")
    facets = tables["facets"]
    panels = []
    for r in top.itertuples():
        f = facets[(facets["compound_id"] == r.compound_id) & np.isfinite(facets["surface_energy_eV_per_A2"])]
        panels.append(
            (
                f"#{r.rank} {r.formula} ({r.compound_id})",
                conventional_cell(bulks[r.compound_id])[0].lattice,
                list(zip(f["miller_h"], f["miller_k"], f["miller_l"], strict=True)),
                f["surface_energy_eV_per_A2"],
                f"Φ = {r.weighted_work_function_eV:.2f} eV",
            )
        )
    sec.raw(wulff_grid(panels))
    return sec.text(
        "pymatgen WulffShape of each facet's lowest predicted γ (eV/Å², colour scale), "
        "conventional standard cell."
    )


def wulff_grid(panels: Sequence[tuple]) -> str:
    """The HTML grid of Wulff panels, in order: each ``(label, lattice, millers, γ, subtitle)`` drawn
    (:func:`.figures.wulff_shape`), or, where its shape cannot be drawn, a line in its place saying
    why (never an empty panel)."""
    cells = []
    for label, lattice, millers, energies, subtitle in panels:
        try:
            cells.append(
                image(figures.wulff_shape(lattice, millers, energies, f"{label}\n{subtitle}"), label)
            )
        except figures.WulffNotDrawn as exc:
            cells.append(f'<p class="flag">{html.escape(f"{label}: no Wulff shape drawn ({exc})")}</p>')
    return '<div class="grid">' + "".join(cells) + "</div>"


def _dissolution_section(rank: pd.DataFrame, diss: pd.DataFrame, how: str) -> Section:
    from semcgcnn.pipeline.analysis.dissolution import DEFAULT_CONDITIONS, equilibrium_potential

    c = DEFAULT_CONDITIONS
    sec = Section("dissolution", "Wulff work function vs dissolution equilibrium potential (paper Fig. 6b)")
    sec.text(
        f"Equilibrium potential of the anodic dissolution of each compound at {c.describe()} "
        f"(semcgcnn dissolution; {how}). Error bars: ±1σ of Φ."
    )
    if len(diss):
        mg = equilibrium_potential("Mg", 0.0, c).equilibrium_potential_V_SHE
        sec.image(
            figures.scatter_wf_vs_potential(
                rank["weighted_work_function_eV"].to_numpy(float),
                rank["weighted_work_function_eV_std"].to_numpy(float),
                rank["equilibrium_potential_V_SHE"].to_numpy(float),
                list(rank["formula"]),
                (rank["trust"] == "trusted").to_numpy(bool),
                mg,
            ),
            "Φ vs potential",
        )
        ok = diss["equilibrium_potential_V_SHE"].astype(float).map(math.isfinite)
        counts = diss[ok].groupby("formation_energy_source").size().rename("compounds with a potential")
        sec.table(counts.reset_index(), left=["formation_energy_source"])
        why = diss[~ok].groupby("reason").size().rename("compounds").reset_index()
        if len(why):
            sec.text("Compounds without a potential, by reason:").table(why, left=["reason"])
    return sec


def _errors_section(errors: pd.DataFrame) -> Section:
    sec = Section("errors", "Errors")
    if errors.empty:
        return sec.text("No errors: every candidate gave its slabs and predictions.")
    counts = (
        errors.groupby(["stage", "reason"])
        .size()
        .rename("count")
        .reset_index()
        .sort_values(["count", "stage"], ascending=[False, True])
    )
    sec.text(f"{len(errors)} error rows over {errors['id'].nunique()} ids; counts per stage and reason:")
    return sec.table(counts, left=["stage", "reason"])


def build_screen_report(run_dir: Path, cfg: ReportConfig = ReportConfig(), progress: Bars = QUIET) -> str:
    """The whole HTML document of the screen in ``run_dir``; ``progress``: the bars of the work it
    does (the dissolution potentials, when the run folder does not hold them yet)."""
    run_dir = Path(run_dir)
    tables = results.read_tables(run_dir)
    meta = results.table_metadata(run_dir, "wulff")
    diss, how = dissolution_for(run_dir, cfg, progress)
    rank = ranked(tables, diss)
    comp, w = tables["compounds"], tables["wulff"]
    n_trusted = int((w["trust"] == "trusted").sum())
    intro = (
        f"Screen {run_dir.name}: {len(comp)} compounds, {len(tables['slabs'])} slabs, {len(w)} Wulff rows, "
        f"{n_trusted} trusted; model {meta.get('model_id', '?')}, source {meta.get('source', '?')}, "
        f"sem-cgcnn {meta.get('package_version', '?')}, written {meta.get('created_utc', '?')}."
    )
    out_dom = comp[~comp["compound_in_domain"].astype(bool)]
    summary = Section("summary", "Run and trust flags").text(
        f"{len(out_dom)} of {len(comp)} compounds are outside the model's domain (compound_in_domain False: "
        "elements or systems the model never saw; their reasons below). A Wulff row is 'trusted' only with a "
        "shape, compound and dominant facet in domain, a symmetric dominant slab, ≥ 2 facet families and "
        "γ, Φ inside the training-label range; otherwise `trust` lists why."
    )
    if len(out_dom):
        summary.table(
            out_dom.groupby("domain_reason").size().rename("compounds").reset_index(), left=["domain_reason"]
        )
    by_class = comp.groupby("compound_class").size().reindex(CLASSES, fill_value=0)
    summary.text(
        f"Compounds by class (compound_class, from the partner elements: {RULE}). "
        "Only the intermetallics are ranked:"
    ).table(by_class.rename("compounds").rename_axis("compound_class").reset_index(), left=["compound_class"])
    view, others = _ranked_view(rank), _others_view(rank)
    ranked_sec = Section(
        "ranked", f"Ranked intermetallics (top {min(cfg.top, len(view))} of {len(view)})"
    ).text(
        "The intermetallics in the model's domain (compound_class 'intermetallic': every partner "
        "element a metal), by Wulff-weighted work function Φ, highest first; ± are calibrated ensemble "
        "1σ (NaN from a single model). Semiconductors/Zintl phases, ionic compounds and compounds out "
        "of the model's domain are listed in the next table, unranked."
    )
    ranked_sec.table(
        view.head(cfg.top), left=["compound_id", "formula", "spacegroup", "dominant_facet", "trust"]
    )
    others_sec = Section("others", f"Other compounds: not ranked with the intermetallics ({len(others)})")
    if len(others):
        others_sec.table(
            others,
            left=[
                "compound_id",
                "formula",
                "spacegroup",
                "class",
                "not ranked because",
                "dominant_facet",
                "trust",
            ],
        )
    else:
        others_sec.text("None: every compound with a Wulff shape is an intermetallic in the model's domain.")
    dist = Section("distributions", "Distributions").image(
        figures.histograms(
            [
                (w["weighted_surface_energy_J_per_m2"].to_numpy(float), "Wulff-weighted γ (J/m²)"),
                (w["weighted_work_function_eV"].to_numpy(float), "Wulff-weighted Φ (eV)"),
            ]
        ),
        "histograms",
    )
    sections = [
        summary,
        ranked_sec,
        others_sec,
        dist,
        _wulff_section(run_dir, tables, rank, cfg.wulff_shapes),
        _dissolution_section(rank, diss, how),
        _errors_section(tables["errors"]),
    ]
    return page(f"sem-cgcnn screen report: {run_dir.name}", intro, sections)
