"""Prediction errors per partner element X of the Mg–X slabs (the paper's Fig. 3).

    python studies/per_element.py [--splits random,grouped] [--out reports/per_element_errors.md]

The committed split models (``studies/models/semcgcnn-{split}-s0``, exported by
``studies/export_split_model.py``) predict their own test rows (recipe ``joint+desc+mp``, seed 0,
:func:`~semcgcnn.model.training.recipes.split_rows`): ``random`` is the paper's setting (Fig. 3);
``grouped`` holds out whole Mg–X systems, the number that matters for screening. Per element X
(metadata ``X_element``): the mean absolute percentage error (MAPE, %) of the surface energy and of
the work function, their mean (the paper's per-element error), MAEs and the sample count.

Metal or semiconductor: the shipped data hold no band gap (the Materials Project bulk table
``mp_bulk_mg_binaries_and_elements`` is the elasticity subset: moduli, no electronic data), so the
class is X's, from pymatgen's ``Element``: ``metal`` where ``is_metal``, else ``metalloid/nonmetal``
(B, Si, Ge, As, Sb, Te, P, Se, …: the partners whose Mg compounds the paper calls semiconductors,
Mg3Sb2, MgSe2, MgTe2). A proxy for the compound's band gap, not a measurement of it.

Writes the report (``.md``), its ``.json`` twin, a bar plot (``.png``) and the per-element table
(``.parquet``) next to ``--out``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import torch
import typer

from semcgcnn.datasets import labels
from semcgcnn.model.checkpoint import load_checkpoint
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.inference import predict
from semcgcnn.model.training.data import TASKS, load_slab_tensors
from semcgcnn.model.training.recipes import RECIPES, split_rows

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("per_element")
RECIPE, SEED = "joint+desc+mp", 0
SPLITS = ("random", "grouped")
COLUMNS = {"surface_energy": "surface_energy_eV_per_A2", "work_function": "work_function_eV"}
SHORT = {"surface_energy": "SE", "work_function": "WF"}
METAL, OTHER = "metal", "metalloid/nonmetal"


def element_class(symbol: str) -> str:
    """``metal`` if pymatgen's ``Element(symbol).is_metal``, else ``metalloid/nonmetal``."""
    from pymatgen.core import Element

    return METAL if Element(symbol).is_metal else OTHER


def split_model(split: str) -> Path:
    return REPO / "studies" / "models" / f"semcgcnn-{split}-s0"


def held_out_predictions(
    split: str, data: GraphTensors, frame: pd.DataFrame, model: Path | None = None
) -> pd.DataFrame:
    """One row per test slab of ``split`` (seed 0): ids, ``X_element``, DFT and predicted targets
    (``*_dft`` / ``*_pred`` in the targets' units) of the split's model."""
    ck = load_checkpoint(model or split_model(split))
    if ck.card.get("training_data", {}).get("split") != split:
        raise ValueError(
            f"{ck.model_id} was trained on the {ck.card.get('training_data', {}).get('split')} split, not {split}"
        )
    if not np.array_equal(ck.descriptor_table, data.descriptor_table):
        raise ValueError(f"{ck.model_id}: element descriptors differ from the recipe's")
    _, _, te = split_rows(frame, split, SEED)
    pred = predict(ck.model, data, te, ck.normalizer)
    y = data.y[torch.from_numpy(te)].double().numpy()
    meta = labels("mg_binary_slabs").set_index("structure_id")
    ids = frame["structure_id"].to_numpy()[te]
    out = pd.DataFrame(
        {
            "split": split,
            "structure_id": ids,
            "chemsys": frame["chemsys"].to_numpy()[te],
            "X_element": meta.loc[ids, "X_element"].to_numpy(),
        }
    )
    for k, task in enumerate(TASKS):
        out[f"{COLUMNS[task]}_dft"] = y[:, k]
        out[f"{COLUMNS[task]}_pred"] = pred[:, k]
    return out


def mape(dft: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error (%) over the finite DFT values."""
    ok = np.isfinite(dft)
    return float(100.0 * np.mean(np.abs(pred[ok] - dft[ok]) / np.abs(dft[ok]))) if ok.any() else float("nan")


def _errors(g: pd.DataFrame) -> dict:
    row: dict = {"n_slabs": int(len(g))}
    for task in TASKS:
        c = COLUMNS[task]
        dft, pred = g[f"{c}_dft"].to_numpy(), g[f"{c}_pred"].to_numpy()
        row[f"mape_{SHORT[task]}_pct"] = mape(dft, pred)
        row[f"mae_{c}"] = float(np.nanmean(np.abs(pred - dft)))
    row["mape_mean_pct"] = float(np.mean([row[f"mape_{SHORT[t]}_pct"] for t in TASKS]))
    row["min_dft_surface_energy_eV_per_A2"] = float(np.nanmin(g["surface_energy_eV_per_A2_dft"]))
    return row


def per_element_errors(pred: pd.DataFrame) -> pd.DataFrame:
    """Per split and element X: ``n_slabs``, MAPE (%) of each target and their mean, MAEs, the
    smallest DFT surface energy (where an SE MAPE comes from), X's class and Mendeleev number;
    splits in ``pred``'s order, elements by Mendeleev number."""
    from pymatgen.core import Element

    rows = [
        {
            "split": split,
            "X_element": x,
            "X_class": element_class(x),
            "mendeleev_no": int(Element(x).mendeleev_no),
            **_errors(g),
        }
        for (split, x), g in pred.groupby(["split", "X_element"], sort=False)
    ]
    order = {s: k for k, s in enumerate(dict.fromkeys(pred["split"]))}
    df = pd.DataFrame(rows)
    return df.sort_values(
        ["split", "mendeleev_no"], key=lambda c: c.map(order) if c.name == "split" else c, kind="stable"
    ).reset_index(drop=True)


def class_errors(pred: pd.DataFrame, per_element: pd.DataFrame) -> pd.DataFrame:
    """Per split and class (and ``all``): errors over the pooled slabs, and the mean of the
    per-element mean MAPEs (each element weighted once, as Fig. 3 shows them)."""
    classes = pred["X_element"].map(element_class)
    rows = []
    for split, g in pred.groupby("split", sort=False):
        for cls in (METAL, OTHER, "all"):
            m = (classes[g.index] == cls) if cls != "all" else np.ones(len(g), dtype=bool)
            if not np.any(m):
                continue
            pe = per_element[
                (per_element["split"] == split) & ((per_element["X_class"] == cls) | (cls == "all"))
            ]
            rows.append(
                {
                    "split": split,
                    "X_class": cls,
                    "n_elements": int(len(pe)),
                    **_errors(g[np.asarray(m)]),
                    "mean_of_element_mape_pct": float(pe["mape_mean_pct"].mean()),
                }
            )
    return pd.DataFrame(rows)


def plot(per_element: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    splits = list(dict.fromkeys(per_element["split"]))
    fig, axes = plt.subplots(len(splits), 1, figsize=(13, 3.6 * len(splits)), squeeze=False)
    colours = {METAL: "#6baed6", OTHER: "#08306b"}  # the paper's blue / dark blue
    for ax, split in zip(axes[:, 0], splits, strict=True):
        d = per_element[per_element["split"] == split]
        x = np.arange(len(d))
        ax.bar(x, d["mape_mean_pct"], color=[colours[c] for c in d["X_class"]])
        for xi, (v, n) in enumerate(zip(d["mape_mean_pct"], d["n_slabs"], strict=True)):
            ax.text(xi, v, str(n), ha="center", va="bottom", fontsize=6)
        ax.set_xticks(x, d["X_element"], fontsize=8)
        ax.set_xlim(-0.7, len(d) - 0.3)
        ax.set_ylabel("MAPE, mean of SE and WF (%)")
        ax.set_title(
            f"{split} split, seed 0: test slabs per Mg–X partner (number above bar: test slabs; "
            "Mendeleev order)",
            fontsize=9,
        )
        ax.legend(handles=[Patch(color=c, label=f"X {cls}") for cls, c in colours.items()], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(df: pd.DataFrame) -> list[str]:
    lines = [
        "| X | class | test slabs | MAPE SE % | MAPE WF % | MAPE mean % | MAE SE (eV/Å²) | MAE WF (eV) | min DFT SE (eV/Å²) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        lines.append(
            f"| {r.X_element} | {r.X_class} | {r.n_slabs} | {r.mape_SE_pct:.1f} | {r.mape_WF_pct:.1f} | "
            f"{r.mape_mean_pct:.1f} | {r.mae_surface_energy_eV_per_A2:.4f} | {r.mae_work_function_eV:.3f} | "
            f"{r.min_dft_surface_energy_eV_per_A2:.4f} |"
        )
    return lines


def report(per_element: pd.DataFrame, classes: pd.DataFrame, out: Path, wall_s: float) -> None:
    lines = [
        "# Prediction errors per Mg–X partner element (the paper's Fig. 3)",
        "",
        f"Written by `studies/per_element.py` in {wall_s:.0f} s on a 2-core CPU (no GPU): the committed split "
        "models (`studies/models/semcgcnn-{random,grouped}-s0`, recipe `joint+desc+mp`, surface readout, "
        "150 epochs, seed 0) on their own test slabs. MAPE = mean |pred − DFT| / |DFT| × 100 per target; "
        "the per-element error is the mean of the SE and WF MAPEs, as in Fig. 3c. Class: X's, from pymatgen "
        "`Element.is_metal` (the shipped data have no band gaps: the bundled Materials Project table is the "
        "elasticity subset), so `metalloid/nonmetal` stands in for the paper's semiconductors.",
        "",
        "![per-element MAPE](per_element_errors.png)",
        "",
        "## Metals against metalloid/nonmetal partners",
        "",
        "| split | class | elements | test slabs | MAPE SE % | MAPE WF % | MAPE mean % | mean of element MAPEs % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in classes.itertuples():
        lines.append(
            f"| {r.split} | {r.X_class} | {r.n_elements} | {r.n_slabs} | {r.mape_SE_pct:.1f} | "
            f"{r.mape_WF_pct:.1f} | {r.mape_mean_pct:.1f} | {r.mean_of_element_mape_pct:.1f} |"
        )
    lines.append("")
    for split, c in classes.groupby("split", sort=False):
        m, o = (c[c["X_class"] == k].iloc[0] if (c["X_class"] == k).any() else None for k in (METAL, OTHER))
        if m is not None and o is not None:
            lines.append(
                f"{split}: metalloid/nonmetal partners' MAPE is {o.mape_SE_pct / m.mape_SE_pct:.1f}× the "
                f"metals' for SE and {o.mape_WF_pct / m.mape_WF_pct:.1f}× for WF "
                f"({o.n_slabs} against {m.n_slabs} slabs)."
            )
    small = per_element[per_element["n_slabs"] <= 3]
    if len(small):
        lines.append(
            "Elements with at most 3 test slabs (their MAPE is a few slabs' error): "
            + ", ".join(f"{r.X_element} ({r.split}, {r.n_slabs})" for r in small.itertuples())
            + "."
        )
    lines.append("")
    for split, d in per_element.groupby("split", sort=False):
        worst = d.sort_values("mape_mean_pct", ascending=False)
        n = len(d)
        lines += [
            f"## {split} split: {n} elements, {int(d['n_slabs'].sum())} test slabs",
            "",
            f"Below 10 %: {int((d['mape_mean_pct'] < 10).sum())} of {n} elements; below 15 %: "
            f"{int((d['mape_mean_pct'] < 15).sum())}. Worst: "
            + ", ".join(
                f"{r.X_element} {r.mape_mean_pct:.1f} % (n={r.n_slabs})" for r in worst.head(5).itertuples()
            )
            + ". Best: "
            + ", ".join(
                f"{r.X_element} {r.mape_mean_pct:.1f} % (n={r.n_slabs})"
                for r in worst.tail(3)[::-1].itertuples()
            )
            + ".",
            "",
            *_table(d),
            "",
        ]
    out.write_text("\n".join(lines))


def main(
    splits: Annotated[str, typer.Option(help="Comma-separated splits (random, grouped).")] = ",".join(SPLITS),
    out: Annotated[Path, typer.Option(help="Report (markdown; .json, .png and .parquet beside it).")] = REPO
    / "reports"
    / "per_element_errors.md",
) -> None:
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    names = [s.strip() for s in splits.split(",") if s.strip()]
    unknown = [s for s in names if s not in SPLITS]
    if unknown:
        raise typer.BadParameter(f"unknown split(s) {unknown}; choose from {SPLITS}")
    r = RECIPES[RECIPE]
    data, frame = load_slab_tensors(r.datasets, descriptors=r.descriptors)
    pred = pd.concat([held_out_predictions(s, data, frame) for s in names], ignore_index=True)
    per_element = per_element_errors(pred)
    classes = class_errors(pred, per_element)
    out.parent.mkdir(parents=True, exist_ok=True)
    per_element.to_parquet(out.with_suffix(".parquet"), index=False)
    plot(per_element, out.with_suffix(".png"))
    wall = time.perf_counter() - t0
    report(per_element, classes, out, wall)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "recipe": RECIPE,
                "seed": SEED,
                "splits": names,
                "class_source": "pymatgen Element.is_metal of X",
                "device": "CPU, 2 cores (no GPU)",
                "wall_s": round(wall, 1),
                "classes": classes.to_dict(orient="records"),
                "per_element": per_element.to_dict(orient="records"),
            },
            indent=1,
        )
        + "\n"
    )
    log.info("wrote %s in %.1f s", out, wall)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    typer.run(main)
