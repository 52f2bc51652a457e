"""Which slabs of a new chemical system to label first, and what a few labels do without
retraining: selection strategies, each followed by the residual correction of
:class:`~semcgcnn.model.distance.ResidualGP`, against random picks.

    python studies/selection.py --out reports/active_learning.json --report reports/active_learning.md

For each grouped split seed with members (``studies/models/grouped-sN-ensemble``): the parent
predicts its 11 held-out test systems; σ is the shipped form (members' spread ⊕ distance,
:func:`~semcgcnn.model.uncertainty.fit_task_sigma`, fitted on that split's validation systems);
the GP on the residuals is fitted on the validation systems (never the test systems). For each
test system, budget b and selection seed, a strategy picks b slabs; their DFT labels (the shipped
dataset's values) correct the system's other slabs through the GP (posterior mean residual), and
the MAE is measured on those remaining slabs (systems weighted equally). Strategies:

* ``random``: a uniform draw;
* ``max_sigma``: the b largest σ scores (σ_SE/median + σ_WF/median, as ``semcgcnn select``);
* ``kcenter``: greedy farthest-first in the standardised surface embedding, from a random slab;
* ``sigma_kcenter``: greedy σ score × distance to the picked set (σ-weighted diversity);
* ``gp_variance``: greedy largest GP posterior variance (both tasks, each over its prior), the
  picks that inform the correction most.

Budget 0 is the uncorrected model. ``--finetune`` adds, for random picks on split seed 0, the
fine-tuned model (``semcgcnn finetune`` defaults) and fine-tuning followed by the GP.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from uncertainty_distance import RECIPE, REPO

from semcgcnn.model.checkpoint import load_checkpoint
from semcgcnn.model.distance import KNNReference, ResidualGP, slab_embeddings
from semcgcnn.model.inference import predict_members
from semcgcnn.model.training.data import TASKS, load_slab_tensors
from semcgcnn.model.training.recipes import RECIPES, split_rows
from semcgcnn.model.uncertainty import fit_task_sigma
from semcgcnn.units import UNITS

log = logging.getLogger("selection")
BUDGETS = (0, 1, 2, 5, 10, 20)
STRATEGIES = ("random", "max_sigma", "kcenter", "sigma_kcenter", "gp_variance")
DISTANCE_K = 1


def split_state(seed: int, data, frame) -> dict:
    """Everything a strategy needs on split ``seed``'s test systems, from its parent and members."""
    parent = REPO / "studies" / "models" / f"semcgcnn-grouped-s{seed}"
    folder = REPO / "studies" / "models" / f"grouped-s{seed}-ensemble"
    stems = [parent, *sorted(p.with_suffix("") for p in folder.glob("member-s*.json"))]
    cks = [load_checkpoint(s) for s in stems]
    tr, va, te = split_rows(frame, "grouped", seed)
    y = data.y.double().numpy()
    pv = predict_members([c.model for c in cks], [c.normalizer for c in cks], data, va)
    pt = predict_members([c.model for c in cks], [c.normalizer for c in cks], data, te)
    idx = np.concatenate([tr, va, te])
    emb = np.zeros((len(data), cks[0].model.cfg.atom_fea_len))
    emb[idx] = slab_embeddings(cks[0].model, data, idx)
    ref = KNNReference.fit(emb[tr], DISTANCE_K)
    d_va, d_te = ref.relative_distances(emb[va]), ref.relative_distances(emb[te])
    chem = frame["chemsys"].to_numpy()
    z_va, z_te = ref.standardise(emb[va]).numpy(), ref.standardise(emb[te]).numpy()
    sigma, gps = np.zeros((len(te), len(TASKS))), []
    for j, _task in enumerate(TASKS):
        ts = fit_task_sigma(pv[0][:, j] - y[va, j], pv[:, :, j].std(0, ddof=1), d_va)
        sigma[:, j] = ts(pt[:, :, j].std(0, ddof=1), d_te)
        r_va = y[va, j] - pv[0][:, j]
        gps.append(
            ResidualGP.fit(
                [
                    (z_va[m], r_va[m])
                    for m in (
                        np.flatnonzero((chem[va] == s) & np.isfinite(r_va)) for s in sorted(set(chem[va]))
                    )
                ]
            )
        )
    med = np.nanmedian(sigma, axis=0)
    return {
        "seed": seed,
        "parent": cks[0],
        "model_ids": [c.model_id for c in cks],
        "te": te,
        "chem": chem[te],
        "y": y[te],
        "pred": pt[0],
        "z": z_te,
        "score": np.nansum(sigma / med, axis=1),
        "gps": gps,
    }


def pick(strategy: str, z: np.ndarray, score: np.ndarray, gps: list[ResidualGP], b: int, rng) -> np.ndarray:
    """Indices (into the system's rows) of the ``b`` slabs ``strategy`` labels."""
    n = len(z)
    if strategy == "random":
        return rng.permutation(n)[:b]
    if strategy == "max_sigma":
        return np.argsort(-score, kind="stable")[:b]
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    chosen: list[int] = []
    if strategy in ("kcenter", "sigma_kcenter"):
        first = int(rng.integers(n)) if strategy == "kcenter" else int(np.argmax(score))
        chosen.append(first)
        near = d2[first].copy()
        while len(chosen) < b:
            value = np.sqrt(near) * (score if strategy == "sigma_kcenter" else 1.0)
            value[chosen] = -np.inf
            nxt = int(np.argmax(value))
            chosen.append(nxt)
            near = np.minimum(near, d2[nxt])
        return np.array(chosen[:b], dtype=int)
    if strategy == "gp_variance":
        kernels = [gp.kernel(z, z) for gp in gps]
        for _ in range(b):
            var = np.zeros(n)
            for gp, k in zip(gps, kernels, strict=True):
                if chosen:
                    kll = k[np.ix_(chosen, chosen)] + gp.noise**2 * np.eye(len(chosen))
                    ks = k[:, chosen]
                    v = np.diag(k) - np.einsum("ij,ji->i", ks, np.linalg.solve(kll, ks.T))
                else:
                    v = np.diag(k).copy()
                var += v / (gp.tau**2 + gp.s**2)
            var[chosen] = -np.inf
            chosen.append(int(np.argmax(var)))
        return np.array(chosen, dtype=int)
    raise ValueError(strategy)


def corrected_mae(st: dict, rows: np.ndarray, lab: np.ndarray, pred: np.ndarray | None = None) -> list[float]:
    """Per task, MAE over the system's rows not in ``lab`` after the GP correction from ``lab``."""
    pred = st["pred"] if pred is None else pred
    rest = np.setdiff1d(np.arange(len(rows)), lab)
    out = []
    for j, gp in enumerate(st["gps"]):
        y, p = st["y"][rows, j], pred[rows, j]
        r = y - p
        ok_lab = lab[np.isfinite(r[lab])]
        corr = gp.predict(st["z"][rows][ok_lab], r[ok_lab], st["z"][rows][rest]) if len(ok_lab) else 0.0
        e = np.abs(r[rest] - corr)
        out.append(float(np.nanmean(e)))
    return out


def run_split(st: dict, seeds: list[int]) -> list[dict]:
    runs = []
    for system in sorted(set(st["chem"])):
        rows = np.flatnonzero(st["chem"] == system)
        for b in BUDGETS:
            if b >= len(rows):
                continue
            for strategy in STRATEGIES if b else ("random",):
                for seed in seeds:
                    rng = np.random.default_rng([st["seed"], seed, b, len(rows)])
                    lab = (
                        pick(strategy, st["z"][rows], st["score"][rows], st["gps"], b, rng)
                        if b
                        else np.zeros(0, int)
                    )
                    mae = corrected_mae(st, rows, lab)
                    runs.append(
                        {
                            "split_seed": st["seed"],
                            "seed": seed,
                            "system": system,
                            "budget_slabs": b,
                            "strategy": strategy,
                            "mae_se": mae[0],
                            "mae_wf": mae[1],
                        }
                    )
    return runs


def summarise(runs: list[dict]) -> dict:
    """Per strategy and budget: the mean over systems (equal weight) per (split seed, seed) run,
    then mean and std over those runs."""
    out = {}
    for strategy in STRATEGIES:
        for task in ("se", "wf"):
            means, spreads = [], []
            for b in BUDGETS:
                s = "random" if b == 0 else strategy
                per_run = {}
                for r in runs:
                    if r["budget_slabs"] == b and r["strategy"] == s:
                        per_run.setdefault((r["split_seed"], r["seed"]), []).append(r[f"mae_{task}"])
                vals = [np.mean(v) for v in per_run.values()]
                means.append(float(np.mean(vals)))
                spreads.append(float(np.std(vals)))
            out[f"mae_{task}_{strategy}"] = means
            out[f"std_{task}_{strategy}"] = spreads
    return out


def winner(summary: dict) -> str:
    """The strategy with the lowest mean MAE ratio to random over both tasks and budgets ≥ 1;
    random unless another beats it."""

    def ratio(s: str) -> float:
        return float(
            np.mean(
                [
                    summary[f"mae_{t}_{s}"][i] / summary[f"mae_{t}_random"][i]
                    for t in ("se", "wf")
                    for i in range(1, len(BUDGETS))
                ]
            )
        )

    best = min(STRATEGIES, key=ratio)
    return best if ratio(best) < 1.0 else "random"


def finetune_arm(st: dict, data, frame, seeds: list[int], budgets=(5, 10, 20)) -> dict:
    """Random picks on every test system at once: fine-tune (``semcgcnn finetune`` defaults), then
    the fine-tuned model alone and with the GP (on its residuals, in the parent's embedding)."""
    from dataclasses import replace

    from finetune import Bench

    from semcgcnn.model.training.extra_labels import load_extra_labels
    from semcgcnn.model.training.finetune import FinetuneConfig, finetune

    work = REPO / "runs" / "selection"
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(REPO / "studies" / "models" / f"semcgcnn-grouped-s{st['seed']}", work)
    out = {"budget_slabs": list(budgets), "runs": []}
    systems = sorted(set(st["chem"]))
    for b in budgets:
        for seed in seeds:
            labs = {}
            for system in systems:
                rows = np.flatnonzero(st["chem"] == system)
                rng = np.random.default_rng([st["seed"], seed, b, len(rows)])
                labs[system] = (rows, pick("random", st["z"][rows], st["score"][rows], st["gps"], b, rng))
            picked = np.sort(np.concatenate([st["te"][r[lab]] for r, lab in labs.values()]))
            labels = load_extra_labels(bench.labels_file(picked, f"sel-b{b}-s{seed}"), bench.ck.graph_config)
            res = finetune(
                bench.ck, labels, replace(FinetuneConfig(), seed=seed), progress=False, replay=bench.pool
            )
            pred = predict_members([res.model], [res.normalizer], data, st["te"])[0]
            for system, (rows, lab) in labs.items():
                rest = np.setdiff1d(np.arange(len(rows)), lab)
                none = [
                    float(np.nanmean(np.abs(st["y"][rows][rest, j] - pred[rows][rest, j]))) for j in range(2)
                ]
                both = corrected_mae(st, rows, lab, pred)  # the fine-tuned residuals, the parent's space
                gp_only = corrected_mae(st, rows, lab)
                out["runs"].append(
                    {
                        "budget_slabs": b,
                        "seed": seed,
                        "system": system,
                        "finetune": none,
                        "finetune_gp": both,
                        "gp": gp_only,
                    }
                )
            log.info("fine-tune arm b=%d seed %d done", b, seed)
    for key in ("finetune", "finetune_gp", "gp"):
        for j, t in enumerate(("se", "wf")):
            out[f"mae_{t}_{key}"] = [  # systems with no slab left at b (fewer than b + 1) do not count
                float(np.nanmean([r[key][j] for r in out["runs"] if r["budget_slabs"] == b])) for b in budgets
            ]
    return out


def main(
    out: Annotated[Path, typer.Option(help="Result JSON.")] = REPO / "reports" / "active_learning.json",
    report: Annotated[Path, typer.Option(help="Markdown report (a PNG beside it).")] = REPO
    / "reports"
    / "active_learning.md",
    split_seeds: Annotated[str, typer.Option(help="Grouped split seeds with members.")] = "0,1",
    seeds: Annotated[str, typer.Option(help="Selection seeds (random draws, k-center starts).")] = "0,1,2",
    with_finetune: Annotated[
        bool, typer.Option("--finetune", help="Add the fine-tuning arm (slow).")
    ] = False,
    threads: int = 2,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    r = RECIPES[RECIPE]
    data, frame = load_slab_tensors(r.datasets, descriptors=r.descriptors)
    seeds_ = [int(s) for s in seeds.split(",")]
    states = [split_state(int(s), data, frame) for s in split_seeds.split(",")]
    runs = [run for st in states for run in run_split(st, seeds_)]
    summary = summarise(runs)
    result = {
        "budget_slabs": list(BUDGETS),
        "budget_unit": "labelled slabs per held-out test system",
        "seeds": seeds_,
        "split_seeds": [st["seed"] for st in states],
        "strategies": list(STRATEGIES),
        "shipped_strategy": winner(summary),
        **summary,
        "correction": "GP on the residuals in the standardised surface embedding (no retraining)",
        "units": {"se": UNITS["surface_energy"], "wf": UNITS["work_function"]},
        "models": {str(st["seed"]): st["model_ids"] for st in states},
        "gp": {
            str(st["seed"]): {t: gp.to_dict() for t, gp in zip(TASKS, st["gps"], strict=True)}
            for st in states
        },
        "runs": runs,
    }
    if with_finetune:
        result["finetune"] = finetune_arm(states[0], data, frame, seeds_)
    result["wall_s"] = time.perf_counter() - t0
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_report(result, report)
    log.info("shipped strategy: %s; wrote %s", result["shipped_strategy"], out)


def write_report(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = r["budget_slabs"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, t, task in ((axes[0], "se", "surface_energy"), (axes[1], "wf", "work_function")):
        for st in r["strategies"]:
            m, s = np.array(r[f"mae_{t}_{st}"]), np.array(r[f"std_{t}_{st}"])
            ax.errorbar(b, m, yerr=s, marker="o", capsize=3, label=st, ls="--" if st == "random" else "-")
        if "finetune" in r:
            f = r["finetune"]
            ax.plot(f["budget_slabs"], f[f"mae_{t}_finetune"], "k^:", label="random + fine-tune")
            ax.plot(f["budget_slabs"], f[f"mae_{t}_finetune_gp"], "kv:", label="random + fine-tune + GP")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlabel("labelled slabs per held-out system")
        ax.set_ylabel(f"MAE on the remaining slabs ({UNITS[task]})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    n_runs = len(r["split_seeds"]) * len(r["seeds"])
    lines = [
        "# Active learning: which slabs of a new system to label, and what their labels do",
        "",
        f"Written by `studies/selection.py` ({r['wall_s']:.0f} s). Grouped split seeds {r['split_seeds']} "
        "(parent + perturbed members each); the 11 held-out test systems of each; selection seeds "
        f"{r['seeds']} (mean ± std over the {n_runs} split-seed × seed runs; each run's MAE the mean over "
        "systems). After the picks, the labelled slabs' residuals correct the system's other slabs through a "
        "GP in the model's standardised surface embedding (fitted on the validation systems; no retraining). "
        "MAE on the remaining (unlabelled) slabs; budget 0 is the uncorrected model.",
        "",
        f"**Shipped strategy: `{r['shipped_strategy']}`** (lowest mean MAE ratio to random over both tasks "
        "and budgets 1–20; random if none is below 1).",
        "",
    ]
    for t, name, fmt in (("se", "Surface energy (eV/Å²)", ".5f"), ("wf", "Work function (eV)", ".4f")):
        lines += [
            f"## {name}",
            "",
            "| slabs / system | " + " | ".join(r["strategies"]) + " |",
            "|---|" + "---|" * len(r["strategies"]),
        ]
        for i, bb in enumerate(b):
            cells = [f"{r[f'mae_{t}_{s}'][i]:{fmt}} ± {r[f'std_{t}_{s}'][i]:{fmt}}" for s in r["strategies"]]
            lines.append(f"| {bb} | " + " | ".join(cells) + " |")
        base = r[f"mae_{t}_random"][0]
        lines += [
            "",
            "Ratio to the uncorrected error at 10 labels per system: "
            + ", ".join(f"{s} {r[f'mae_{t}_{s}'][b.index(10)] / base:.2f}" for s in r["strategies"])
            + ".",
            "",
        ]
    if "finetune" in r:
        f = r["finetune"]
        lines += [
            "## Fine-tuning against the correction (random picks, split seed 0)",
            "",
            "| slabs / system | SE GP | SE fine-tune | SE fine-tune + GP | WF GP | WF fine-tune | WF fine-tune + GP |",
            "|---|---|---|---|---|---|---|",
        ]
        for i, bb in enumerate(f["budget_slabs"]):
            lines.append(
                f"| {bb} | {f['mae_se_gp'][i]:.5f} | {f['mae_se_finetune'][i]:.5f} | {f['mae_se_finetune_gp'][i]:.5f} | "
                f"{f['mae_wf_gp'][i]:.4f} | {f['mae_wf_finetune'][i]:.4f} | {f['mae_wf_finetune_gp'][i]:.4f} |"
            )
        lines.append("")
    lines += [f"![curves]({path.with_suffix('.png').name})", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    typer.run(main)
