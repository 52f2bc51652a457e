"""A distance-aware uncertainty: the ensemble members' spread beside the distance of each slab to
the training data in the model's own representation, calibrated per task on validation systems.

    python studies/uncertainty_distance.py --parent PARENT --members FOLDER --out reports/uncertainty_distance.md

Grouped split (whole Mg–X systems held out; validation = 10 other held-out systems). The parent's
surface embedding (:func:`~semcgcnn.model.distance.slab_embeddings`) of the training rows is the
kNN reference (:class:`~semcgcnn.model.distance.KNNReference`, standardised with training-row
statistics); d is a slab's mean distance to its k nearest training rows (k chosen on validation
systems). The prediction is the parent's (as the shipped ensemble's ``center: first``). For each
task, on validation systems only:

* spread: σ = s·spread (the members' std, ddof 1);
* distance: σ = s·d;
* spread ⊕ distance: σ² = a·spread² + b·d², (a, b) by the Gaussian likelihood of the validation
  errors, then s so that 68.27 % of validation errors lie within σ (as every method);
* spread + distance: σ = a·spread + b·d, fitted the same way.

Coverage, Spearman(σ, |error|) and per-system σ against per-system MAE are measured on the test
systems. ``--seed-model PATH:SEED`` adds a split seed evaluated with the distance term only (no
members there). Item 2 (``few_labels``): a residual correction from a few labelled slabs of a new
system in the same embedding space (:class:`~semcgcnn.model.distance.ResidualGP`, hyper-parameters
fitted on the validation systems), against the unlabelled error.
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
from scipy.optimize import minimize

from semcgcnn.model.checkpoint import load_checkpoint
from semcgcnn.model.distance import KNNReference, ResidualGP, local_error, slab_embeddings
from semcgcnn.model.ensemble import calibration_scale, coverage
from semcgcnn.model.inference import predict_members
from semcgcnn.model.training.data import TASKS, load_slab_tensors
from semcgcnn.model.training.recipes import RECIPES, split_rows
from semcgcnn.model.uncertainty import fit_task_sigma
from semcgcnn.units import UNITS

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("uncertainty_distance")
RECIPE = "joint+desc+mp"
KS = (1, 3, 5, 10, 20)
METHODS = {
    "spread": "members' spread s",
    "distance": "kNN distance d",
    "local": "validation-error kNN e",
    "quadrature": "s ⊕ d (σ² = a·s² + b·d²)",
    "linear": "s + d (σ = a·s + b·d)",
    "all": "s ⊕ d ⊕ e (σ² = a·s² + b·d² + c·e²)",
    "combined": "shipped form: s ⊕ d, scale at 2σ (`semcgcnn.model.uncertainty`)",
}
METHOD_TERMS = {
    "spread": (("spread",), "single"),
    "distance": (("distance",), "single"),
    "local": (("local",), "single"),
    "quadrature": (("spread", "distance"), "quadrature"),
    "linear": (("spread", "distance"), "linear"),
    "all": (("spread", "distance", "local"), "quadrature"),
    "combined": (("spread", "distance"), "combined"),
}
LOCAL_KS = (5, 10, 20, 50)
PER_SYSTEM_METHODS = ("spread", "distance", "quadrature", "combined")
BUDGETS = (1, 2, 5, 10, 20)
FEW_SEEDS = (0, 1, 2, 3, 4)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    ra, rb = np.argsort(np.argsort(a[ok])), np.argsort(np.argsort(b[ok]))
    return float(np.corrcoef(ra, rb)[0, 1])


def fit_weights(err: np.ndarray, terms: np.ndarray, quadrature: bool) -> np.ndarray:
    """Non-negative weights w of σ² = Σ w_j t_j² (``quadrature``) or σ = Σ w_j t_j maximising the
    Gaussian likelihood of ``err`` (validation errors; rows with a NaN error dropped)."""
    ok = np.isfinite(err)
    e2, t = err[ok] ** 2, terms[ok]
    # each term alone, its scale by the likelihood (closed form), as the start
    start = np.array([np.mean(e2 / np.maximum(t[:, j] ** 2, 1e-300)) for j in range(t.shape[1])])
    start = np.log(start if quadrature else np.sqrt(start)) - np.log(t.shape[1])

    def nll(theta: np.ndarray) -> float:
        w = np.exp(theta)
        var = (t**2) @ w if quadrature else (t @ w) ** 2
        var = np.maximum(var, 1e-300)
        return float(0.5 * np.mean(np.log(var) + e2 / var))

    res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 4000})
    return np.exp(res.x)


def sigma_of(method: str, terms: dict[str, np.ndarray], w: np.ndarray | None) -> np.ndarray:
    """Uncalibrated σ of ``method`` from its terms (each (n,)) and fitted weights."""
    names, form = METHOD_TERMS[method]
    t = np.stack([terms[n] for n in names], axis=1)
    if w is None:
        return t[:, 0]
    return np.sqrt((t**2) @ w) if form == "quadrature" else t @ w


def evaluate_methods(
    y: np.ndarray, pred: dict, terms: dict, chem: np.ndarray, va: np.ndarray, te: np.ndarray
) -> dict:
    """Per task and method: weights and scale fitted on ``va``, metrics on ``te``. ``terms[task]``
    maps a term's name to {"va": (n,), "te": (n,)}; methods whose terms are missing are skipped."""
    out = {}
    for k, task in enumerate(TASKS):
        yv, yt = y[va, k], y[te, k]
        ev, et = yv - pred["va"][:, k], yt - pred["te"][:, k]
        tv = {n: v["va"] for n, v in terms[task].items()}
        tt = {n: v["te"] for n, v in terms[task].items()}
        res = {}
        for method, (names, form) in METHOD_TERMS.items():
            if not set(names) <= set(tv):
                continue
            w = None
            if form == "combined":  # what predict ships: the library's fit, its scale at 2σ
                ts = fit_task_sigma(ev, tv["spread"], tv["distance"])
                w = ts.scale**2 * np.array([ts.spread_weight, ts.distance_weight])
                raw_v, raw_t = ts(tv["spread"], tv["distance"]), ts(tt["spread"], tt["distance"])
                s = 1.0
            else:
                if len(names) > 1:
                    w = fit_weights(ev, np.stack([tv[n] for n in names], axis=1), form == "quadrature")
                raw_v, raw_t = sigma_of(method, tv, w), sigma_of(method, tt, w)
                s = calibration_scale(yv, pred["va"][:, k], raw_v)
            sig_v, sig_t = s * raw_v, s * raw_t
            s95 = calibration_scale(yv, pred["va"][:, k], raw_v, target=0.9545) / 2  # 2σ at 95.45 % instead
            ok = np.isfinite(et)
            nll = 0.5 * np.mean(np.log(2 * np.pi * sig_t[ok] ** 2) + et[ok] ** 2 / sig_t[ok] ** 2)
            per = []
            for sys_ in sorted(set(chem[te])):
                m = (chem[te] == sys_) & ok
                per.append(
                    {
                        "chemsys": str(sys_),
                        "n": int(m.sum()),
                        "mae": float(np.mean(np.abs(et[m]))),
                        "mean_sigma": float(sig_t[m].mean()),
                        "coverage_1sigma": float(np.mean(np.abs(et[m]) <= sig_t[m])),
                    }
                )
            rng = np.random.default_rng(0)
            # the Spearman this σ would reach if it were exactly right (errors drawn from N(0, σ²))
            ideal = [
                spearman(sig_t[ok], np.abs(rng.standard_normal(ok.sum()) * sig_t[ok])) for _ in range(50)
            ]
            res[method] = {
                "weights": None if w is None else w.tolist(),
                "scale": s,
                "val_coverage_1sigma": coverage(yv, pred["va"][:, k], sig_v, 1),
                "val_coverage_2sigma": coverage(yv, pred["va"][:, k], sig_v, 2),
                "val_spearman": spearman(sig_v, np.abs(ev)),
                "spearman": spearman(sig_t, np.abs(et)),
                "spearman_if_gaussian": float(np.mean(ideal)),
                "coverage_1sigma": coverage(yt, pred["te"][:, k], sig_t, 1),
                "coverage_2sigma": coverage(yt, pred["te"][:, k], sig_t, 2),
                "scale_2sigma_fit": s95,
                "coverage_1sigma_2sigma_fit": coverage(yt, pred["te"][:, k], s95 * raw_t, 1),
                "coverage_2sigma_2sigma_fit": coverage(yt, pred["te"][:, k], s95 * raw_t, 2),
                "nll": float(nll),
                "mean_sigma": float(sig_t[ok].mean()),
                "system_spearman": spearman(
                    np.array([p["mean_sigma"] for p in per]), np.array([p["mae"] for p in per])
                ),
                "per_system": per,
            }
        out[task] = {"unit": UNITS[task], "mae": float(np.nanmean(np.abs(et))), "methods": res}
    return out


def local_terms(emb, ref, y, pred, chem, va, te) -> tuple[dict, dict]:
    """Per task, the validation-error kNN term on va (leave one validation system out) and te (all
    validation slabs), its k chosen by the validation Spearman; and the k sweep."""
    out, sweep = {}, {}
    for j, task in enumerate(TASKS):
        ev = np.abs(y[va, j] - pred["va"][:, j])
        vals = {}
        for k in LOCAL_KS:
            v = local_error(ref, emb[va], ev, emb[va], k, chem[va], chem[va])
            vals[k] = (spearman(v, ev), v)
        best = max(LOCAL_KS, key=lambda k: vals[k][0])
        sweep[task] = {"k": best, "val_spearman": {str(k): vals[k][0] for k in LOCAL_KS}}
        out[task] = {"va": vals[best][1], "te": local_error(ref, emb[va], ev, emb[te], best)}
    return out, sweep


def choose_k(emb: np.ndarray, y: np.ndarray, pred_va: np.ndarray, tr: np.ndarray, va: np.ndarray) -> tuple:
    """k of the kNN distance with the best mean validation Spearman(d, |error|) over the tasks."""
    sweep = {}
    for k in KS:
        d = KNNReference.fit(emb[tr], k).distances(emb[va])
        sweep[k] = [spearman(d, np.abs(y[va, j] - pred_va[:, j])) for j in range(len(TASKS))]
    best = max(KS, key=lambda k: float(np.mean(sweep[k])))
    return best, {str(k): v for k, v in sweep.items()}


def distance_terms(model, data, tr, va, te, y, pred_va) -> tuple[dict, dict, np.ndarray, KNNReference]:
    """(distances on va/te, the k sweep, all embeddings, the reference) from ``model``."""
    idx = np.concatenate([tr, va, te])
    emb = np.zeros((len(data), model.cfg.atom_fea_len))
    emb[idx] = slab_embeddings(model, data, idx)
    k, sweep = choose_k(emb, y, pred_va, tr, va)
    ref = KNNReference.fit(emb[tr], k)
    d_train = ref.distances(emb[tr], exclude_self=True) / ref.scale
    dist = {"va": ref.relative_distances(emb[va]), "te": ref.relative_distances(emb[te])}
    info = {
        "k": k,
        "distance_scale": ref.scale,
        "k_sweep_val_spearman": sweep,
        "mean_distance": {
            "train_leave_one_out": float(d_train.mean()),
            "validation": float(dist["va"].mean()),
            "test": float(dist["te"].mean()),
        },
    }
    return dist, info, emb, ref


def evaluate_seed(parent: Path, members: Path | None, seed: int, data, frame) -> dict:
    tr, va, te = split_rows(frame, "grouped", seed)
    y = data.y.double().numpy()
    chem = frame["chemsys"].to_numpy()
    stems = [parent, *(sorted(p.with_suffix("") for p in members.glob("member-s*.json")) if members else [])]
    cks = [load_checkpoint(s) for s in stems]
    t0 = time.perf_counter()
    pv = predict_members([c.model for c in cks], [c.normalizer for c in cks], data, va)
    pt = predict_members([c.model for c in cks], [c.normalizer for c in cks], data, te)
    log.info("seed %d: %d members predicted in %.0f s", seed, len(cks), time.perf_counter() - t0)
    pred = {"va": pv[0], "te": pt[0]}
    dist, info, emb, ref = distance_terms(cks[0].model, data, tr, va, te, y, pv[0])
    local, info["local_k"] = local_terms(emb, ref, y, pred, chem, va, te)
    terms = {task: {"distance": dist, "local": local[task]} for task in TASKS}
    if len(cks) > 1:
        for j, task in enumerate(TASKS):
            terms[task]["spread"] = {"va": pv[:, :, j].std(0, ddof=1), "te": pt[:, :, j].std(0, ddof=1)}
    res = {
        "seed": seed,
        "parent": cks[0].model_id,
        "members": [c.model_id for c in cks],
        "n_train": int(len(tr)),
        "n_val": int(len(va)),
        "n_test": int(len(te)),
        "val_systems": sorted(set(chem[va])),
        "test_systems": sorted(set(chem[te])),
        **info,
        "tasks": evaluate_methods(y, pred, terms, chem, va, te),
        # validation errors and terms, for the σ fitted over every seed (not written to the json)
        "_validation": {
            task: (pred["va"][:, j] - y[va, j], terms[task].get("spread", {}).get("va"), dist["va"])
            for j, task in enumerate(TASKS)
        },
        "few_labels": few_labels(emb, ref, y, pred, chem, va, te),
    }
    return res


def pooled_sigma(results: list[dict]) -> dict:
    """The shipped form of σ (:func:`fit_task_sigma`) fitted on the validation systems of every
    seed that has members, pooled; pops each result's validation arrays."""
    vals = [r.pop("_validation") for r in results]
    with_members = [v for v, r in zip(vals, results, strict=True) if len(r["members"]) > 1]
    out = {"seeds": [r["seed"] for r in results if len(r["members"]) > 1], "tasks": {}}
    for task in TASKS:
        if not with_members:
            break
        err, spread, dist = (np.concatenate([v[task][i] for v in with_members]) for i in range(3))
        out["tasks"][task] = fit_task_sigma(err, spread, dist).to_dict()
    return out


def few_labels(emb, ref: KNNReference, y, pred, chem, va, te) -> dict:
    """Item 2: per test system, n random labelled slabs; their residuals correct the rest through
    a GP in the standardised embedding space (hyper-parameters from the validation systems' full
    residuals), against no correction and a constant offset (the labelled residuals' mean)."""
    z_va, z_te = ref.standardise(emb[va]).numpy(), ref.standardise(emb[te]).numpy()
    out = {}
    for k, task in enumerate(TASKS):
        r_va = y[va, k] - pred["va"][:, k]
        gp = ResidualGP.fit([(z_va[m], r_va[m]) for m in _systems(chem[va], r_va)])
        r_te = y[te, k] - pred["te"][:, k]
        rows = {b: {"none": [], "offset": [], "gp": []} for b in BUDGETS}
        for sys_ in sorted(set(chem[te])):
            m = np.flatnonzero((chem[te] == sys_) & np.isfinite(r_te))
            for b in BUDGETS:
                if b >= len(m):
                    continue
                for seed in FEW_SEEDS:
                    pick = np.random.default_rng([seed, b, k, len(m)]).permutation(len(m))
                    lab, rest = m[pick[:b]], m[pick[b:]]
                    corr = gp.predict(z_te[lab], r_te[lab], z_te[rest])
                    rows[b]["none"].append(np.abs(r_te[rest]).mean())
                    rows[b]["offset"].append(np.abs(r_te[rest] - r_te[lab].mean()).mean())
                    rows[b]["gp"].append(np.abs(r_te[rest] - corr).mean())
        out[task] = {
            "gp": gp.to_dict(),
            # MAE over the remaining slabs, averaged over systems and seeds (systems weighted equally)
            "budgets": {
                str(b): {name: float(np.mean(v)) for name, v in r.items()} | {"n_runs": len(r["none"])}
                for b, r in rows.items()
            },
        }
    return out


def _systems(chem: np.ndarray, r: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero((chem == s) & np.isfinite(r)) for s in sorted(set(chem))]


def report(results: list[dict], out: Path, wall: float, shipped: dict) -> None:
    lines = [
        "# Uncertainty: members' spread and distance to the training data",
        "",
        "Written by `studies/uncertainty_distance.py`. Grouped split: validation and test are whole "
        "Mg–X systems the model never saw. The prediction is the parent's; σ comes from the members' spread "
        "(perturbed members, `studies/ensemble_members.py`), from d, the mean distance of a slab's surface "
        "embedding (mean final state of its surface atoms, standardised with training-row statistics) to "
        "its k nearest training slabs (`semcgcnn.model.distance`), or from both. Every weight and scale is "
        "fitted per task on the validation systems only; every number below is on the test systems. "
        "Sections after the first: other models given with `--seed-model` (another split seed, or another "
        f"model of the same seed), each with its own members if it has any. Wall time {wall:.0f} s.",
        "",
        "## Summary over split seeds (test systems)",
        "",
        "| task | σ from | " + " | ".join(f"seed {r['seed']} Spearman / 1σ / 2σ" for r in results) + " |",
        "|---|---|" + "---|" * len(results),
    ]
    for task in TASKS:
        for method in ("spread", "distance", "combined"):
            cells = []
            for r in results:
                m = r["tasks"][task]["methods"].get(method)
                cells.append(
                    "—"
                    if m is None
                    else f"{m['spearman']:.2f} / {m['coverage_1sigma']:.2f} / {m['coverage_2sigma']:.2f}"
                )
            lines.append(f"| {task} | {METHODS[method]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Targets on held-out systems: Spearman ≥ 0.5, 1σ coverage 0.6–0.8, 2σ ≥ 0.9. Shipped σ "
        f"(validation systems of seeds {shipped['seeds']} pooled, `semcgcnn.model.uncertainty.fit_task_sigma`): "
        + "; ".join(
            f"{t}: σ = {v['scale']:.3g}·√(s² + {v['distance_weight']:.3g}·d²)"
            for t, v in shipped["tasks"].items()
        )
        + ", s the members' std, d the relative distance.",
        "",
    ]
    for res in results:
        n_members = len(res["members"])
        lines += [
            f"## Split seed {res['seed']}: parent `{res['parent']}`, {n_members} model(s) "
            f"({res['n_val']} validation slabs in {len(res['val_systems'])} systems, {res['n_test']} test slabs "
            f"in {len(res['test_systems'])} systems)",
            "",
            f"k = {res['k']} (best mean validation Spearman of {', '.join('k=' + k for k in res['k_sweep_val_spearman'])}); "
            "mean d: training rows (leave-one-out) {train_leave_one_out:.2f}, validation {validation:.2f}, "
            "test {test:.2f}. ".format(**res["mean_distance"])
            + "Validation-error kNN e: mean |error| of the k nearest validation slabs of other systems "
            + "(on validation, leave one system out), k by validation Spearman: "
            + ", ".join(f"{t} k = {v['k']}" for t, v in res["local_k"].items())
            + ". 'if σ were exact': the Spearman reached by errors drawn from N(0, σ²), the ceiling of that σ.",
            "",
            "| task | σ from | Spearman(σ, abs error) | … if σ were exact | 1σ coverage | 2σ coverage | NLL | "
            "Spearman over systems | weights | scale | validation 1σ / 2σ | 1σ / 2σ, scale fitted at 2σ |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for task, t in res["tasks"].items():
            for method, m in t["methods"].items():
                w = "—" if m["weights"] is None else ", ".join(f"{v:.3g}" for v in m["weights"])
                lines.append(
                    f"| {task} | {METHODS[method]} | {m['spearman']:.2f} | {m['spearman_if_gaussian']:.2f} | "
                    f"{m['coverage_1sigma']:.2f} | {m['coverage_2sigma']:.2f} | {m['nll']:.2f} | "
                    f"{m['system_spearman']:.2f} | {w} | {m['scale']:.3g} | "
                    f"{m['val_coverage_1sigma']:.2f} / {m['val_coverage_2sigma']:.2f} | "
                    f"{m['coverage_1sigma_2sigma_fit']:.2f} / {m['coverage_2sigma_2sigma_fit']:.2f} |"
                )
        lines.append("")
        methods = [m for m in PER_SYSTEM_METHODS if m in res["tasks"][TASKS[0]]["methods"]]
        head = " | ".join(f"{task[:2].upper()} σ {mth}" for task in ("SE", "WF") for mth in methods)
        lines += [
            "Per test system: MAE of the parent and mean calibrated σ of each method.",
            "",
            f"| system | n | SE MAE | WF MAE | {head} |",
            "|---|---|---|---|" + "---|" * (2 * len(methods)),
        ]
        se, wf = (res["tasks"][t]["methods"] for t in TASKS)
        for i, p in enumerate(se[methods[0]]["per_system"]):
            q = wf[methods[0]]["per_system"][i]
            cells = [f"{se[m]['per_system'][i]['mean_sigma']:.4f}" for m in methods] + [
                f"{wf[m]['per_system'][i]['mean_sigma']:.3f}" for m in methods
            ]
            lines.append(
                f"| {p['chemsys']} | {p['n']} | {p['mae']:.4f} | {q['mae']:.3f} | " + " | ".join(cells) + " |"
            )
        lines.append("")
        fl = res["few_labels"]
        lines += [
            "Few labels of a new system, no retraining: n random labelled slabs per test system "
            f"({len(FEW_SEEDS)} seeds), MAE on the system's other slabs (systems weighted equally): no "
            "correction, the labelled residuals' mean as an offset, and a GP on the residuals in the "
            "standardised embedding space (constant + RBF kernel, hyper-parameters by the marginal "
            "likelihood of the validation systems' residuals).",
            "",
            "| labels / system | SE none | SE offset | SE GP | GP / none | WF none | WF offset | WF GP | GP / none |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for b in map(str, BUDGETS):
            s, w = fl["surface_energy"]["budgets"][b], fl["work_function"]["budgets"][b]
            lines.append(
                f"| {b} | {s['none']:.4f} | {s['offset']:.4f} | {s['gp']:.4f} | {s['gp'] / s['none']:.2f} | "
                f"{w['none']:.3f} | {w['offset']:.3f} | {w['gp']:.3f} | {w['gp'] / w['none']:.2f} |"
            )
        lines.append("")
    out.write_text("\n".join(lines))


def main(
    parent: Annotated[Path, typer.Option(help="The grouped split's model (checkpoint stem).")] = REPO
    / "studies"
    / "models"
    / "semcgcnn-grouped-s0",
    members: Annotated[Path, typer.Option(help="Folder of its members (member-s*.json).")] = Path(
        "runs/ensemble/grouped-s0"
    ),
    seed_model: Annotated[
        list[str] | None,
        typer.Option(
            help="PATH:SEED[:MEMBERS], another grouped model and its split seed (distance only without MEMBERS)."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Report (markdown; .json beside it).")] = REPO
    / "reports"
    / "uncertainty_distance.md",
    threads: int = 1,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    r = RECIPES[RECIPE]
    data, frame = load_slab_tensors(r.datasets, descriptors=r.descriptors)
    results = [evaluate_seed(parent, members, 0, data, frame)]
    for spec in seed_model or []:
        path, seed, *folder = spec.split(":")
        results.append(evaluate_seed(Path(path), Path(folder[0]) if folder else None, int(seed), data, frame))
    shipped = pooled_sigma(results)
    wall = time.perf_counter() - t0
    out.with_suffix(".json").write_text(
        json.dumps({"results": results, "shipped_sigma": shipped, "wall_s": wall}, indent=2) + "\n"
    )
    report(results, out, wall, shipped)
    log.info("wrote %s", out)


if __name__ == "__main__":
    typer.run(main)
