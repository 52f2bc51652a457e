"""The readout study: the paper's mean pooling against the thickness-invariant surface
readout, on accuracy (grouped and random splits, per held-out system) and on physics (thickness
series and cell-choice invariance of real slabs).

    python studies/readout.py --paper-model OLD_STEM --surface-model model/weights/semcgcnn-mg \\
        --results-dir reports/shipped_runs --out reports/readout.md

Accuracy comes from the generalisation study's result JSON (``studies/generalise.py``; the
surface readout's files carry the tag ``-rosurface``), never retrained here. The physics is
measured here, on pymatgen ``SlabGenerator`` slabs, with both checkpoints.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from pymatgen.core import Lattice, Structure
from pymatgen.core.surface import SlabGenerator

from semcgcnn.datasets import labels
from semcgcnn.model.config import READOUTS
from semcgcnn.model.predict import Predictor, load_pretrained
from semcgcnn.model.training.recipes import readout_tag
from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger(__name__)
SE, WF = "surface_energy_eV_per_A2", "work_function_eV"


def hcp_mg() -> Structure:
    """hcp Mg, a = 3.21 Å, c = 5.21 Å (the issue's structure)."""
    return Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 1 / 4]]
    )


def fcc_al() -> Structure:
    """fcc Al, a = 4.04 Å."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.04), ["Al"], [[0, 0, 0]])


def b2_mgag() -> Structure:
    """B2 MgAg from the shipped bulk set (Materials Project mp-2696)."""
    from semcgcnn.pipeline.screen.candidates import load_bundled

    return next(c.structure for c in load_bundled() if c.compound_id == "mp-2696")


SURFACES = {  # name: (bulk, Miller index, slab thicknesses in unit planes, thinnest first, DFT label id or "")
    "Mg(0001)": (hcp_mg, (0, 0, 1), (2, 3, 4, 5, 6, 7), "78Mg0001"),
    "Al(111)": (fcc_al, (1, 1, 1), (3, 4, 5, 6, 7, 8), "507Al111"),
    "MgAg(110)": (b2_mgag, (1, 1, 0), (3, 4, 5, 6, 7, 8), ""),
}


def symmetric_slab(bulk: Structure, hkl, planes: int, vacuum: float = 15.0):
    """pymatgen's first termination, ``planes`` unit planes thick, centred, symmetric."""
    slab = SlabGenerator(bulk, hkl, planes, vacuum, in_unit_planes=True, center_slab=True).get_slabs()[0]
    if not slab.is_symmetric():
        raise ValueError(f"{bulk.composition.reduced_formula}{hkl} x{planes}: not a symmetric slab")
    return slab


def cell_variants(slab) -> dict:
    """The same surface in four other cells: shifted along c, wrapped across the boundary, and two
    in-plane supercells."""
    shifted, wrapped = slab.copy(), slab.copy()
    shifted.translate_sites(range(len(slab)), [0, 0, 0.07], frac_coords=True, to_unit_cell=True)
    wrapped.translate_sites(range(len(slab)), [0, 0, 0.5], frac_coords=True, to_unit_cell=True)
    return {
        "shifted along c": shifted,
        "wrapped across the boundary": wrapped,
        "2x3 in-plane supercell": slab.copy().make_supercell([2, 3, 1]),
        "oblique in-plane supercell": slab.copy().make_supercell([[2, 1, 0], [0, 1, 0], [0, 0, 1]]),
    }


def thickness_series(predictor: Predictor) -> pd.DataFrame:
    """SE and WF of every surface in :data:`SURFACES` at every thickness."""
    rows = []
    for name, (make, hkl, planes, _) in SURFACES.items():
        bulk = make()
        slabs = [symmetric_slab(bulk, hkl, n) for n in planes]
        df = predictor.predict(slabs)
        for slab, (_, r) in zip(slabs, df.iterrows(), strict=True):
            h = slab.cart_coords @ slab.normal
            rows.append(
                {
                    "surface": name,
                    "n_atoms": len(slab),
                    "thickness_A": float(h.max() - h.min()),
                    "surface_energy_J_per_m2": r["surface_energy_J_per_m2"],
                    WF: r[WF],
                }
            )
    return pd.DataFrame(rows)


def invariance(predictor: Predictor) -> pd.DataFrame:
    """Largest relative change of SE and WF over vacuum (10 vs 20 Å), shift, wrap and supercells."""
    rows = []
    for name, (make, hkl, planes, _) in SURFACES.items():
        bulk = make()
        base = symmetric_slab(bulk, hkl, planes[2], vacuum=10.0)
        others = {"20 A of vacuum": symmetric_slab(bulk, hkl, planes[2], vacuum=20.0), **cell_variants(base)}
        df = predictor.predict([base, *others.values()])
        for col in (SE, WF):
            rel = np.abs(df[col].to_numpy()[1:] / df[col].iloc[0] - 1.0)
            rows.append(
                {
                    "surface": name,
                    "property": col,
                    "max_relative_change": float(rel.max()),
                    "worst_variant": list(others)[int(rel.argmax())],
                }
            )
    return pd.DataFrame(rows)


def dft_references() -> dict:
    """The shipped DFT labels of the series' surfaces (elemental slabs), J/m² and eV."""
    df = labels("elemental_slabs").set_index("structure_id")
    out = {}
    for name, (*_, sid) in SURFACES.items():
        if sid:
            out[name] = {
                "structure_id": sid,
                "surface_energy_J_per_m2": float(df.loc[sid, SE]) * EV_PER_A2_TO_J_PER_M2,
                WF: float(df.loc[sid, WF]),
            }
    return out


def accuracy(results_dir: Path, recipe: str) -> pd.DataFrame:
    """Test MAEs of both readouts, per split, epochs and seed, from the generalisation results."""
    rows = []
    for readout in READOUTS:
        for p in sorted(Path(results_dir).glob(f"*ep/*/{recipe}{readout_tag(readout)}-seed*.json")):
            r = json.loads(p.read_text())
            if r.get("model_config", {}).get("readout", "paper") != readout or r["split"] not in (
                "grouped",
                "random",
            ):
                continue
            t = r["test"]
            rows.append(
                {
                    "readout": readout,
                    "split": r["split"],
                    "epochs": r["train_config"]["epochs"],
                    "seed": r["seed"],
                    "n_test": t["surface_energy"]["n"],
                    "se_mae_eV_per_A2": t["surface_energy"]["mae"],
                    "se_r2": t["surface_energy"]["r2"],
                    "wf_mae_eV": t["work_function"]["mae"],
                    "wf_r2": t["work_function"]["r2"],
                    "device": r.get("device", ""),
                    "file": str(p.relative_to(results_dir)),
                }
            )
    return pd.DataFrame(rows).sort_values(["split", "epochs", "seed", "readout"]).reset_index(drop=True)


def per_system(results_dir: Path, recipe: str, epochs: int, seed: int) -> pd.DataFrame:
    """Per held-out Mg–X system (grouped split): MAE of both readouts."""
    frames = []
    for readout in READOUTS:
        p = Path(results_dir) / f"{epochs}ep" / "grouped" / f"{recipe}{readout_tag(readout)}-seed{seed}.json"
        df = pd.DataFrame(json.loads(p.read_text())["per_system"]).set_index("chemsys")
        frames.append(df[["n_slabs", "surface_energy_mae", "work_function_mae"]].add_prefix(f"{readout}_"))
    out = frames[0].join(frames[1], how="outer")
    return (
        out.rename(columns={"paper_n_slabs": "n_slabs"})
        .drop(columns="surface_n_slabs")
        .sort_values("n_slabs", ascending=False)
    )


def _markdown(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    return df.to_markdown(index=False, floatfmt=floatfmt)


def plot_series(series: dict[str, pd.DataFrame], refs: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(SURFACES), figsize=(4 * len(SURFACES), 6), sharex="col")
    for j, name in enumerate(SURFACES):
        for readout, df in series.items():
            d = df[df["surface"] == name]
            axes[0, j].plot(d["thickness_A"], d["surface_energy_J_per_m2"], "o-", label=f"{readout} readout")
            axes[1, j].plot(d["thickness_A"], d[WF], "o-", label=f"{readout} readout")
        if name in refs:
            axes[0, j].axhline(
                refs[name]["surface_energy_J_per_m2"], color="k", ls="--", lw=1, label="DFT label"
            )
            axes[1, j].axhline(refs[name][WF], color="k", ls="--", lw=1, label="DFT label")
        axes[0, j].set_title(name)
        axes[0, j].set_ylabel("surface energy (J/m²)")
        axes[1, j].set_ylabel("work function (eV)")
        axes[1, j].set_xlabel("slab thickness (Å)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(
    paper_model: Annotated[
        Path, typer.Option(help="Checkpoint (stem or folder) of the paper-readout model.")
    ],
    surface_model: Annotated[Path, typer.Option(help="Checkpoint of the surface-readout model.")] = REPO
    / "model/weights/semcgcnn-mg",
    results_dir: Annotated[Path, typer.Option(help="Generalisation results (studies/generalise.py).")] = REPO
    / "reports/shipped_runs",
    recipe: Annotated[str, typer.Option(help="Recipe of both models.")] = "joint+desc+mp",
    epochs: Annotated[int, typer.Option(help="Schedule whose per-system errors are tabled.")] = 150,
    out: Annotated[
        Path, typer.Option(help="Markdown report; a .json twin and a .png plot are written next to it.")
    ] = REPO / "reports/readout.md",
) -> None:
    """Write the readout comparison report."""
    models = {"paper": load_pretrained(paper_model), "surface": load_pretrained(surface_model)}
    series = {k: thickness_series(p) for k, p in models.items()}
    inv = {k: invariance(p) for k, p in models.items()}
    refs = dft_references()
    acc = accuracy(results_dir, recipe)
    systems = per_system(results_dir, recipe, epochs, 0)
    png = plot_series(series, refs, out.with_suffix(".png"))
    both = series["paper"].merge(
        series["surface"], on=["surface", "n_atoms", "thickness_A"], suffixes=("_paper", "_surface")
    )
    invt = inv["paper"].merge(inv["surface"], on=["surface", "property"], suffixes=("_paper", "_surface"))
    lines = [
        "# Readout: the paper's mean pooling vs the thickness-invariant surface readout",
        "",
        f"Models: paper readout `{models['paper'].model_id}`, surface readout `{models['surface'].model_id}` "
        f"(recipe `{recipe}`). Regenerate: `python studies/readout.py --paper-model … --surface-model …`.",
        "",
        "## Accuracy on held-out data (test MAE; grouped = whole Mg–X systems held out)",
        "",
        _markdown(acc.drop(columns="file")),
        "",
        f"## Per held-out system (grouped split, {epochs} epochs, seed 0)",
        "",
        _markdown(systems.reset_index()),
        "",
        "## Thickness series (pymatgen SlabGenerator slabs, 15 Å vacuum)",
        "",
        "DFT labels (shipped elemental slabs, which both models trained on): "
        + "; ".join(
            f"{k} {v['surface_energy_J_per_m2']:.3f} J/m², {v[WF]:.3f} eV ({v['structure_id']})"
            for k, v in refs.items()
        ),
        "",
        _markdown(both, ".3f"),
        "",
        f"![thickness series]({png.name})",
        "",
        "## Same surface, other cell (largest relative change over 20 vs 10 Å vacuum, shift, wrap, supercells)",
        "",
        _markdown(invt, ".2e"),
        "",
    ]
    out.write_text("\n".join(lines))
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "models": {k: p.model_id for k, p in models.items()},
                "recipe": recipe,
                "accuracy": acc.to_dict("records"),
                "per_system": systems.reset_index().to_dict("records"),
                "thickness_series": {k: v.to_dict("records") for k, v in series.items()},
                "invariance": {k: v.to_dict("records") for k, v in inv.items()},
                "dft_references": refs,
            },
            indent=2,
        )
        + "\n"
    )
    log.info("wrote %s", out)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    typer.run(main)
