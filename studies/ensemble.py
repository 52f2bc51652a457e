"""Uncertainty from an ensemble: accuracy of the ensemble mean against its parent, the
coverage of its spread on held-out data before and after calibration, and the shipped ensemble.

    python studies/ensemble.py --runs runs/ensemble --out reports/uncertainty.md [--ship]

For each split (grouped seed 0: whole Mg–X systems held out; random seed 0), the ensemble is the
split's exported model (``studies/models/semcgcnn-{split}-s0``) plus its perturbed members
(``studies/ensemble_members.py``). One scale per task is fitted on the split's validation rows
only (:func:`~semcgcnn.model.ensemble.calibration_scale`: 68.27 % of validation errors within
1σ); coverage is then measured on the test rows. The shipped ensemble (the shipped model plus its
members) takes the grouped split's scales: those make the spread honest on systems a model never
saw, which is what screening predicts. ``--ship`` writes its card next to the shipped weights,
members copied into ``model/weights/ensemble/``.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE, SHIPPED_MODEL, load_checkpoint
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.ensemble import calibration_scale, coverage, save_ensemble
from semcgcnn.model.inference import predict_members
from semcgcnn.model.training.data import TASKS, load_slab_tensors
from semcgcnn.model.training.recipes import RECIPES, split_rows
from semcgcnn.units import UNITS

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("ensemble")
RECIPE = "joint+desc+mp"


def member_stems(parent: Path, folder: Path) -> list[Path]:
    return [parent, *sorted(p.with_suffix("") for p in folder.glob("member-s*.json"))]


def member_predictions(stems: list[Path], data: GraphTensors, rows: np.ndarray) -> np.ndarray:
    """(k, n, tasks) predictions of each member on ``rows``."""
    cks = [load_checkpoint(s) for s in stems]
    return predict_members([c.model for c in cks], [c.normalizer for c in cks], data, rows)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    ra, rb = np.argsort(np.argsort(a[ok])), np.argsort(np.argsort(b[ok]))
    return float(np.corrcoef(ra, rb)[0, 1])


def evaluate_split(split: str, runs: Path) -> dict:
    r = RECIPES[RECIPE]
    data, frame = load_slab_tensors(r.datasets, descriptors=r.descriptors)
    tr, va, te = split_rows(frame, split, 0)
    stems = member_stems(REPO / "studies" / "models" / f"semcgcnn-{split}-s0", runs / f"{split}-s0")
    y = data.y.double().numpy()
    pv, pt = member_predictions(stems, data, va), member_predictions(stems, data, te)
    res = {
        "split": split,
        "n_members": len(stems),
        "members": [s.name for s in stems],
        "n_val": int(len(va)),
        "n_test": int(len(te)),
        "tasks": {},
    }
    res["centers"] = {center: _tasks(center, pv, pt, y, va, te) for center in CENTERS}
    res["tasks"] = res["centers"]["mean"]
    mean_t, std_t = pt.mean(0), pt.std(0, ddof=1)
    if split == "grouped":
        chem = frame["chemsys"].to_numpy()[te]
        res["per_system"] = []
        for sys_ in sorted(set(chem)):
            m = chem == sys_
            row = {"chemsys": sys_, "n": int(m.sum())}
            for k, task in enumerate(TASKS):
                yt = y[te, k][m]
                if np.isfinite(yt).any():
                    row[f"{task}_mae_single"] = float(np.nanmean(np.abs(yt - pt[0, m, k])))
                    row[f"{task}_mae"] = float(np.nanmean(np.abs(yt - mean_t[m, k])))
                    row[f"{task}_std"] = float(res["tasks"][task]["calibration_scale"] * std_t[m, k].mean())
            res["per_system"].append(row)
    return res


CENTERS = ("mean", "first")
CENTER_WORDS = {"mean": "members' mean", "first": "single model ± spread"}
"""Where an ensemble's prediction sits: the members' mean, or its first member (the parent) with
the members' spread as its uncertainty."""


def _tasks(
    center: str, pv: np.ndarray, pt: np.ndarray, y: np.ndarray, va: np.ndarray, te: np.ndarray
) -> dict:
    mean_v = pv.mean(0) if center == "mean" else pv[0]
    mean_t = pt.mean(0) if center == "mean" else pt[0]
    std_v, std_t = pv.std(0, ddof=1), pt.std(0, ddof=1)
    out = {}
    for k, task in enumerate(TASKS):
        yv, yt = y[va, k], y[te, k]
        ok = np.isfinite(yt)
        scale = calibration_scale(yv, mean_v[:, k], std_v[:, k])
        err = np.abs(yt - mean_t[:, k])
        out[task] = {
            "unit": UNITS[task],
            "mae_single": float(np.nanmean(np.abs(yt - pt[0, :, k]))),
            "mae_ensemble": float(np.nanmean(err)),
            "mean_std_raw": float(std_t[ok, k].mean()),
            "coverage_raw_1sigma": coverage(yt, mean_t[:, k], std_t[:, k], 1),
            "coverage_raw_2sigma": coverage(yt, mean_t[:, k], std_t[:, k], 2),
            "calibration_scale": scale,
            "coverage_1sigma": coverage(yt, mean_t[:, k], scale * std_t[:, k], 1),
            "coverage_2sigma": coverage(yt, mean_t[:, k], scale * std_t[:, k], 2),
            "spearman_std_vs_abs_error": spearman(std_t[:, k], err),
            "coverage_curve": [
                coverage(yt, mean_t[:, k], scale * std_t[:, k], z) for z in np.linspace(0, 3, 31)
            ],
        }
    return out


def ship(runs: Path, scales: dict[str, float], evaluation: dict, center: str) -> Path:
    """The shipped ensemble: the shipped model and its members (copied next to it), the grouped scales."""
    folder = SHIPPED_MODEL.parent / "ensemble"
    folder.mkdir(exist_ok=True)
    members = [SHIPPED_MODEL]
    for stem in sorted(p.with_suffix("") for p in (runs / "shipped").glob("member-s*.json")):
        for suffix in (".json", ".safetensors"):
            shutil.copy(stem.with_suffix(suffix), folder / f"{stem.name}{suffix}")
        members.append(folder / stem.name)
    return save_ensemble(
        SHIPPED_ENSEMBLE,
        members,
        scales,
        {
            "description": "the shipped model and perturbed members (a few more epochs each on a bootstrap resample "
            "of its training rows); std scaled per task by the grouped split's validation calibration",
            "calibration_source": "grouped split seed 0, validation systems (studies/ensemble.py)",
            "center": center,
            "evaluation": evaluation,
        },
    )


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    z = np.linspace(0, 3, 31)
    from math import erf, sqrt

    ideal = [erf(v / sqrt(2)) for v in z]
    for ax, task in zip(axes, TASKS, strict=True):
        ax.plot(z, ideal, "k--", label="Gaussian")
        for split, res in results.items():
            ax.plot(z, res["tasks"][task]["coverage_curve"], label=f"{split} test (calibrated)")
        ax.set_xlabel("k (errors within k·σ)")
        ax.set_ylabel("fraction of test slabs")
        ax.set_title(task.replace("_", " "))
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(results: dict, shipped: dict | None, out: Path) -> None:
    lines = [
        "# Uncertainty: an ensemble with calibrated spread",
        "",
        "Written by `studies/ensemble.py` (issue #15). Members: the split's model plus perturbed members "
        "(`studies/ensemble_members.py`: 6 more epochs each at Adam 3e-4 on a bootstrap resample of the "
        "parent's exact training rows, own seed). Calibration: one scale per task on the split's validation "
        "rows only; coverage on its test rows.",
        "",
    ]
    for split, res in results.items():
        lines += [
            f"## {split} split, seed 0 ({res['n_members']} members; {res['n_val']} validation, "
            f"{res['n_test']} test slabs)",
            "",
            "| task | prediction | MAE single | MAE of prediction | raw 1σ / 2σ coverage | scale | calibrated 1σ / 2σ | Spearman(σ, abs error) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for center, tasks in res["centers"].items():
            for task, t in tasks.items():
                lines.append(
                    f"| {task} ({t['unit']}) | {CENTER_WORDS[center]} | {t['mae_single']:.4f} | "
                    f"{t['mae_ensemble']:.4f} | {t['coverage_raw_1sigma']:.2f} / {t['coverage_raw_2sigma']:.2f} | "
                    f"{t['calibration_scale']:.2f} | {t['coverage_1sigma']:.2f} / {t['coverage_2sigma']:.2f} | "
                    f"{t['spearman_std_vs_abs_error']:.2f} |"
                )
        lines.append("")
        if res.get("per_system"):
            lines += [
                "Per held-out test system (ensemble mean; σ the mean calibrated 1σ):",
                "",
                "| system | n | SE MAE single | SE MAE mean | SE σ | WF MAE single | WF MAE mean | WF σ |",
                "|---|---|---|---|---|---|---|---|",
            ]
            nan = float("nan")
            for p in res["per_system"]:
                lines.append(
                    f"| {p['chemsys']} | {p['n']} | {p.get('surface_energy_mae_single', nan):.4f} | "
                    f"{p.get('surface_energy_mae', nan):.4f} | {p.get('surface_energy_std', nan):.4f} | "
                    f"{p.get('work_function_mae_single', nan):.3f} | {p.get('work_function_mae', nan):.3f} | "
                    f"{p.get('work_function_std', nan):.3f} |"
                )
            lines.append("")
    if shipped:
        lines += [
            "## Shipped",
            "",
            f"`{shipped['model_id']}`: {shipped['n_members']} members, prediction "
            f"`center: {shipped['center']}`, scales {json.dumps({k: round(v, 3) for k, v in shipped['calibration'].items()})} "
            "(the grouped split's, fitted on its validation systems). " + shipped["decision"],
            "",
        ]
    lines += ["![coverage](uncertainty.png)", ""]
    out.write_text("\n".join(lines))


def main(
    runs: Annotated[Path, typer.Option(help="Folder of the members (SPLIT-s0/, shipped/).")] = Path(
        "runs/ensemble"
    ),
    out: Annotated[Path, typer.Option(help="Report (markdown; .json and .png beside it).")] = REPO
    / "reports"
    / "uncertainty.md",
    do_ship: Annotated[
        bool,
        typer.Option(
            "--ship",
            help="Write the shipped ensemble card if the ensemble is at least "
            "as accurate as the single model on both splits.",
        ),
    ] = False,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    results = {split: evaluate_split(split, runs) for split in ("grouped", "random")}
    as_good = all(
        results[s]["tasks"][t]["mae_ensemble"] <= results[s]["tasks"][t]["mae_single"] + 1e-12
        for s in results
        for t in TASKS
    )
    center = "mean" if as_good else "first"
    for res in results.values():
        res["tasks"] = res["centers"][center]
    scales = {t: results["grouped"]["tasks"][t]["calibration_scale"] for t in TASKS}
    evaluation = {
        s: {t: {k: v for k, v in results[s]["tasks"][t].items() if k != "coverage_curve"} for t in TASKS}
        for s in results
    }
    shipped = None
    if do_ship:
        card = json.loads(ship(runs, scales, evaluation, center).read_text())
        decision = (
            (
                "Its prediction is the members' mean, which is at least as accurate as the single model on both "
                "splits and tasks."
            )
            if as_good
            else (
                "The members' mean is less accurate than the single model on a split or task (see the tables), so "
                "the shipped ensemble predicts the single model's value and gives the members' spread as its "
                "uncertainty (`center: first`): accuracy identical to the single model by construction, the "
                "calibrated coverage as in the tables for that centre."
            )
        )
        shipped = {
            "model_id": card["model_id"],
            "n_members": len(card["members"]),
            "center": center,
            "calibration": scales,
            "decision": decision,
        }
    payload = {"results": results, "shipped": shipped, "wall_s": time.perf_counter() - t0}
    out.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
    plot(results, out.with_suffix(".png"))
    report(results, shipped, out)
    log.info("wrote %s", out)


if __name__ == "__main__":
    typer.run(main)
