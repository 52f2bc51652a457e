"""Does a universal ML potential's surface energy help the network on unseen chemistry?
(measured; kept only if it lowers the grouped-split error).

The ML-potential surface energy of each shipped Mg–X slab, unrelaxed as shipped, from SevenNet
7net-0 single points (``studies/mlip_energies.py``):

    γ_MLIP = (E_slab − N · e_hull(x_slab)) / 2A

where ``e_hull(x)`` is the 7net-0 convex hull of the slab's Mg–X system (the shipped MP bulk
compounds of that system and the lowest-energy elemental references, all 7net-0 energies) at the
slab's composition. For a stoichiometric slab of a hull phase this is the usual bulk-referenced γ;
a non-stoichiometric slab is referenced to the phases it would decompose into (the chemical
potentials of the hull facet holding its composition). The second compound-level quantity is
the 7net-0 formation energy of the hull at the slab's composition, ΔH(x) in eV/atom. (The hull,
not a parent bulk: the shipped slabs name no parent compound, and some parents are not in the
shipped bulk table, e.g. the Mg14Se28 slabs have no MgSe2 bulk there.)

Compared on the grouped split (whole Mg–X systems held out; recipe ``mg+desc``: the Mg–X slabs
with element descriptors, the paper's readout-free setting at a short schedule), same seed and
schedule for every arm:

* ``none``: the network alone;
* ``input``: γ_MLIP and ΔH(x) (standardised on the training rows) appended to every atom's features;
* ``hull``: ΔH(x) alone (bulk and element energies only: no slab calculation, cheap at screening);
* ``baseline``: the network learns γ_DFT − (a·γ_MLIP + b), the line fitted on the training rows;
* and, without any network, the fitted line alone;
* beside the shipped recipe's trained grouped-split network (and its ensemble members), without
  retraining: the network's γ and the line blended with one weight fitted on validation rows.

Writes ``reports/mlip_prior.{json,md}``. Finished arms are read back from ``--runs``.

    python studies/mlip_prior.py --epochs 40 --lr-drop-epoch 30 --seeds 0,1

The energies (``reports/mlip_prior_energies.parquet``: 3218 slabs, 210 bulks, 88 elements; the 259
slabs above 200 atoms were not computed for time and carry that reason) came from
``studies/mlip_energies.py`` run as one process and then two (``--part 0/2``, ``1/2``,
``--max-atoms 200``), merged with :func:`read_energies`: ≈ 45 min on the shared 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("mlip_prior")
REPO = Path(__file__).resolve().parents[1]
ARMS = ("none", "input", "hull", "baseline")


def hull_features(energies: pd.DataFrame) -> pd.DataFrame:
    """Per slab id: ``gamma_mlip_eV_per_A2`` (needs the area, added by the caller: here the raw
    excess energy ``excess_eV``, E_slab − N·e_hull) and ``dH_hull_eV_per_atom``, from each
    system's 7net-0 convex hull; NaN with a reason where an energy is missing."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    el = energies[energies.kind == "element"].set_index("id")
    bulk = energies[energies.kind == "bulk"]
    slabs = _all_slabs(energies[energies.kind == "slab"])
    mu = {sym: r.energy_eV / r.n_atoms for sym, r in el.iterrows() if np.isfinite(r.energy_eV)}
    diagrams: dict[frozenset, PhaseDiagram | None] = {}

    def diagram(elements: frozenset) -> PhaseDiagram | None:
        if elements not in diagrams:
            entries = [PDEntry(Composition(s), e) for s, e in ((s, mu[s]) for s in elements if s in mu)]
            if len(entries) < len(elements):
                diagrams[elements] = None
                return None
            for r in bulk.itertuples():
                c = Composition(r.formula)
                if np.isfinite(r.energy_eV) and {e.symbol for e in c.elements} <= elements:
                    entries.append(PDEntry(c, r.energy_eV))
            diagrams[elements] = PhaseDiagram(entries)
        return diagrams[elements]

    rows = []
    for r in slabs.itertuples():
        c = Composition(r.formula)
        pd_ = diagram(frozenset(e.symbol for e in c.elements))
        if pd_ is None:
            rows.append({"structure_id": r.id, "excess_eV": np.nan, "dH_hull_eV_per_atom": np.nan})
            continue
        e_hull = pd_.get_hull_energy_per_atom(c)
        e_ref = sum(c.get_atomic_fraction(e) * mu[e.symbol] for e in c.elements)
        rows.append(
            {
                "structure_id": r.id,
                "excess_eV": r.energy_eV - r.n_atoms * e_hull,  # NaN: slab not computed
                "dH_hull_eV_per_atom": e_hull - e_ref,
            }
        )
    return pd.DataFrame(rows)


def _all_slabs(computed: pd.DataFrame) -> pd.DataFrame:
    """Every shipped Mg–X slab (id, formula, n_atoms, energy_eV: NaN where not computed)."""
    from semcgcnn.datasets import labels

    df = labels("mg_binary_slabs")
    e = computed.set_index("id")["energy_eV"]
    return pd.DataFrame(
        {
            "id": df["structure_id"],
            "formula": df["slab_formula"],
            "n_atoms": df["nsites"],
            "energy_eV": df["structure_id"].map(e).astype(float),
        }
    )


def read_energies(paths) -> pd.DataFrame:
    """The energies of ``studies/mlip_energies.py`` (one file per process), one row per structure."""
    e = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    return (
        e.sort_values("energy_eV", na_position="last").drop_duplicates(["kind", "id"]).reset_index(drop=True)
    )


def slab_prior(energies) -> pd.DataFrame:
    """The prior of every shipped Mg–X slab, in the dataset's row order, with its DFT labels."""
    from semcgcnn.datasets import labels

    df = labels("mg_binary_slabs")
    f = hull_features(read_energies(energies))
    out = df.merge(f, on="structure_id", how="left")  # surface_area_A2: one face, from the metadata
    out["gamma_mlip_eV_per_A2"] = out["excess_eV"] / (2.0 * out["surface_area_A2"])
    return out


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    ok = np.isfinite(x) & np.isfinite(y)
    a, b = np.polyfit(x[ok], y[ok], 1)
    return float(a), float(b)


def run_arm(
    arm: str, prior: pd.DataFrame, seed: int, epochs: int, lr_drop: int, threads: int, runs: Path
) -> dict:
    """Train one arm on the grouped split (seed ``seed``); its test metrics, cached as JSON."""
    path = runs / f"{arm}-seed{seed}-{epochs}ep.json"
    if path.exists():
        return json.loads(path.read_text())
    import torch

    from semcgcnn.model.config import GraphConfig, TrainConfig
    from semcgcnn.model.metrics import regression_metrics
    from semcgcnn.model.training.data import load_slab_tensors
    from semcgcnn.model.training.recipes import RECIPES, split_rows
    from semcgcnn.model.training.train import train

    recipe = RECIPES["mg+desc"]
    data, frame = load_slab_tensors(recipe.datasets, GraphConfig(), descriptors=recipe.descriptors)
    p = prior.set_index("structure_id").loc[frame["structure_id"]]
    tr, va, te = split_rows(frame, "grouped", seed)
    g = p["gamma_mlip_eV_per_A2"].to_numpy(float)
    h = p["dH_hull_eV_per_atom"].to_numpy(float)
    y_true = data.y.numpy().astype(float).copy()
    cfg = recipe.model_config("surface")
    line = _fit_line(g[tr], y_true[tr, 0]) if arm == "baseline" else None
    shift = np.zeros(len(frame))
    if arm in ("input", "hull"):
        cols = []
        for v in (g, h) if arm == "input" else (h,):
            mu, sd = np.nanmean(v[tr]), np.nanstd(v[tr])
            cols.append(np.nan_to_num((v - mu) / sd))  # a missing prior reads as the training mean
        per_atom = np.repeat(np.column_stack(cols), data.n_atoms, axis=0).astype(np.float32)
        data.atom_fea = torch.cat([data.atom_fea, torch.from_numpy(per_atom)], dim=1)
        cfg = replace(cfg, n_descriptors=cfg.n_descriptors + len(cols))
    elif arm == "baseline":
        shift = np.nan_to_num(line[0] * g + line[1], nan=float(np.nanmean(y_true[tr, 0])))
        data.y[:, 0] = torch.from_numpy((y_true[:, 0] - shift).astype(np.float32))
    t0 = time.time()
    res = train(
        data,
        (tr, va, te),
        cfg,
        TrainConfig(epochs=epochs, lr_drop_epoch=lr_drop, split="grouped", seed=seed, threads=threads),
        progress=False,
    )
    from semcgcnn.model.inference import predict

    pred = predict(res.model, data, te, res.normalizer)
    pred[:, 0] += shift[te]
    test = {t: regression_metrics(y_true[te, k], pred[:, k]) for k, t in enumerate(cfg.tasks)}
    out = {
        "arm": arm,
        "seed": seed,
        "epochs": epochs,
        "lr_drop_epoch": lr_drop,
        "best_epoch": res.best_epoch,
        "wall_s": round(time.time() - t0, 1),
        "test": test,
        "n_test": int(len(te)),
        "test_systems": sorted(set(frame["chemsys"].to_numpy()[te])),
        "line_se_vs_mlip": line,
        "test_abs_error_se": np.abs(pred[:, 0] - y_true[te, 0]).tolist(),
        "test_chemsys": frame["chemsys"].to_numpy()[te].tolist(),
    }
    runs.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def line_only(prior: pd.DataFrame, seed: int) -> dict:
    """The fitted line γ_DFT ≈ a·γ_MLIP + b alone (training rows fit, test rows scored)."""
    from semcgcnn.model.metrics import regression_metrics
    from semcgcnn.model.training.recipes import split_rows

    frame = prior.assign(source="mg_binary_slabs")
    tr, _, te = split_rows(frame, "grouped", seed)
    g, y = prior["gamma_mlip_eV_per_A2"].to_numpy(float), prior["surface_energy_eV_per_A2"].to_numpy(float)
    a, b = _fit_line(g[tr], y[tr])
    ok = np.isfinite(g[te])
    return {
        "a": a,
        "b": b,
        "n_test_with_prior": int(ok.sum()),
        "n_test": int(len(te)),
        "test_se": regression_metrics(y[te][ok], a * g[te][ok] + b),
        "pearson_r_all": float(pd.Series(g).corr(pd.Series(y))),
    }


def stacking(
    prior: pd.DataFrame,
    models: list[Path],
    seed: int = 0,
    split: str = "grouped",
    fixed: tuple[float, float, float] | None = None,
) -> dict:
    """The prior beside a trained network, without retraining: γ = w·γ_net + (1 − w)·(a·γ_MLIP + b)
    where a slab has a prior (γ_net alone elsewhere), the line fitted on the training rows and w on
    the validation rows of the shipped recipe's grouped split, scored on its test rows; for each
    of ``models`` (the committed grouped-split model and its ensemble members). ``split``: the split
    the models were trained on; ``fixed``: (a, b, w) as shipped instead of fitted here."""
    from semcgcnn.model.checkpoint import load_checkpoint
    from semcgcnn.model.inference import predict
    from semcgcnn.model.training.data import load_slab_tensors
    from semcgcnn.model.training.recipes import RECIPES, split_rows

    r = RECIPES["joint+desc+mp"]
    data, frame = load_slab_tensors(r.datasets, descriptors=r.descriptors)
    tr, va, te = split_rows(frame, split, seed)
    y = data.y.double().numpy()[:, 0]
    g = prior.set_index("structure_id").reindex(frame["structure_id"])["gamma_mlip_eV_per_A2"].to_numpy(float)
    a, b = fixed[:2] if fixed else _fit_line(g[tr], y[tr])
    line_v, line_t = a * g[va] + b, a * g[te] + b
    okv, weights = np.isfinite(line_v), np.linspace(0.0, 1.0, 101)
    rows = []
    for stem in models:
        c = load_checkpoint(stem)
        pv, pt = (predict(c.model, data, idx, c.normalizer)[:, 0] for idx in (va, te))
        w = (
            fixed[2]
            if fixed
            else float(
                weights[
                    int(
                        np.argmin(
                            [
                                np.mean(np.abs(x * pv[okv] + (1 - x) * line_v[okv] - y[va][okv]))
                                for x in weights
                            ]
                        )
                    )
                ]
            )
        )
        comb = np.where(np.isfinite(line_t), w * pt + (1 - w) * line_t, pt)
        rows.append(
            {
                "model": Path(stem).name,
                "w": w,
                "mae_se_network": float(np.mean(np.abs(pt - y[te]))),
                "mae_se_stacked": float(np.mean(np.abs(comb - y[te]))),
            }
        )
    return {
        "line_a": a,
        "line_b": b,
        "n_test": int(len(te)),
        "n_test_with_prior": int(np.isfinite(line_t).sum()),
        "models": rows,
    }


def write_report(
    prior: pd.DataFrame,
    results: list[dict],
    lines: dict,
    out: Path,
    schedule: str,
    stack: dict | None = None,
    shipped: dict | None = None,
) -> dict:
    ok = prior["gamma_mlip_eV_per_A2"].notna()
    summary = {
        "what": "ML-potential (SevenNet 7net-0) surface energy as a prior on the grouped split (#15 item 6)",
        "schedule": schedule,
        "recipe": "mg+desc, surface readout, 1 torch thread, 2-core CPU",
        "n_slabs": int(len(prior)),
        "n_with_prior": int(ok.sum()),
        "pearson_r_gamma_mlip_vs_dft": float(
            prior.loc[ok, "gamma_mlip_eV_per_A2"].corr(prior.loc[ok, "surface_energy_eV_per_A2"])
        ),
        "line_only": lines,
        "arms": {},
    }
    for arm in ARMS:
        rs = [r for r in results if r["arm"] == arm]
        if rs:
            summary["arms"][arm] = {
                "seeds": [r["seed"] for r in rs],
                "mae_se": float(np.mean([r["test"]["surface_energy"]["mae"] for r in rs])),
                "mae_wf": float(np.mean([r["test"]["work_function"]["mae"] for r in rs])),
                "per_seed": [
                    {
                        "seed": r["seed"],
                        "mae_se": r["test"]["surface_energy"]["mae"],
                        "mae_wf": r["test"]["work_function"]["mae"],
                        "wall_s": r["wall_s"],
                        "best_epoch": r["best_epoch"],
                    }
                    for r in rs
                ],
            }
    summary["stacking_shipped_recipe_grouped_seed0"] = stack or {}
    summary["shipped_card_accuracy_pair"] = shipped or {}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    md = [
        f"# {summary['what']}",
        "",
        f"Written by `studies/mlip_prior.py`; {schedule}; {summary['recipe']}.",
        f"γ_MLIP for {summary['n_with_prior']} of {summary['n_slabs']} Mg–X slabs (the rest: slabs above "
        f"200 atoms not computed for time, or an element outside 7net-0; they read as the training mean "
        f"in the input and baseline arms and keep the network's value in the stacking). Pearson r(γ_MLIP, γ_DFT) = {summary['pearson_r_gamma_mlip_vs_dft']:.3f}.",
        "",
        "| arm | seeds | grouped test MAE SE (eV/Å²): mean [per seed] | grouped test MAE WF (eV): mean [per seed] |",
        "|---|---|---|---|",
    ]
    for arm, s in summary["arms"].items():
        se = ", ".join(f"{r['mae_se']:.5f}" for r in s["per_seed"])
        wf = ", ".join(f"{r['mae_wf']:.4f}" for r in s["per_seed"])
        md.append(f"| {arm} | {s['seeds']} | {s['mae_se']:.5f} [{se}] | {s['mae_wf']:.4f} [{wf}] |")
    for seed, ln in lines.items():
        md.append(
            f"| line a·γ_MLIP + b only (seed {seed}, {ln['n_test_with_prior']} of {ln['n_test']} test rows) "
            f"| {seed} | {ln['test_se']['mae']:.5f} | – |"
        )
    if stack:
        md += [
            "",
            "## Beside the shipped recipe's network, no retraining (grouped split, seed 0)",
            "",
            f"γ = w·γ_net + (1 − w)·(a·γ_MLIP + b), a = {stack['line_a']:.3f}, b = {stack['line_b']:.4f} eV/Å² "
            f"(training rows), w on the validation rows; {stack['n_test_with_prior']} of {stack['n_test']} test "
            "slabs have a prior (the rest keep γ_net).",
            "",
            "| model | w | test MAE SE network | test MAE SE stacked | change |",
            "|---|---|---|---|---|",
        ]
        for r in stack["models"]:
            md.append(
                f"| {r['model']} | {r['w']:.2f} | {r['mae_se_network']:.5f} | {r['mae_se_stacked']:.5f} | "
                f"{100 * (r['mae_se_stacked'] / r['mae_se_network'] - 1):+.1f} % |"
            )
    if shipped:
        md += [
            "",
            "## The shipped opt-in (`semcgcnn screen --mlip-prior`): accuracy pair",
            "",
            "The card's a, b, w (fitted above on the grouped split) applied to the committed split models' "
            "test rows:",
            "",
            "| split | test slabs (with a prior) | SE MAE network | SE MAE with the prior |",
            "|---|---|---|---|",
        ]
        for split, r in shipped.items():
            m = r["models"][0]
            md.append(
                f"| {split} | {r['n_test']} ({r['n_test_with_prior']}) | {m['mae_se_network']:.5f} | "
                f"{m['mae_se_stacked']:.5f} ({100 * (m['mae_se_stacked'] / m['mae_se_network'] - 1):+.1f} %) |"
            )
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    return summary


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--energies",
        type=Path,
        nargs="+",
        default=[REPO / "reports/mlip_prior_energies.parquet"],
        help="studies/mlip_energies.py outputs (the committed file merges the three runs made here)",
    )
    p.add_argument("--runs", type=Path, default=REPO / "runs/mlip_prior/arms")
    p.add_argument("--out", type=Path, default=REPO / "reports/mlip_prior.md")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--lr-drop-epoch", type=int, default=30)
    p.add_argument("--seeds", default="0")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--report-only", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    prior = slab_prior(a.energies)
    prior.to_parquet(a.runs.parent / "prior.parquet", index=False)
    seeds = [int(s) for s in a.seeds.split(",")]
    lines = {s: line_only(prior, s) for s in seeds}
    results = []
    for seed in seeds:
        for arm in a.arms.split(","):
            if a.report_only and not (a.runs / f"{arm}-seed{seed}-{a.epochs}ep.json").exists():
                continue
            log.info("arm %s seed %d", arm, seed)
            results.append(run_arm(arm, prior, seed, a.epochs, a.lr_drop_epoch, a.threads, a.runs))
    models = [
        REPO / "studies/models/semcgcnn-grouped-s0",
        *sorted(
            p.with_suffix("") for p in (REPO / "studies/models/grouped-s0-ensemble").glob("member-s*.json")
        ),
    ]
    stack = stacking(prior, models) if 0 in seeds else None
    card = json.loads((REPO / "model/weights/semcgcnn-mg-mlip-prior.json").read_text())
    fixed = (card["line_a"], card["line_b_eV_per_A2"], card["weight_network"])
    shipped = (
        {
            split: stacking(prior, [REPO / f"studies/models/semcgcnn-{split}-s0"], split=split, fixed=fixed)
            for split in ("grouped", "random")
        }
        if 0 in seeds
        else None
    )
    s = write_report(
        prior, results, lines, a.out, f"{a.epochs} epochs, lr ×0.1 at {a.lr_drop_epoch}", stack, shipped
    )
    log.info("%s", json.dumps(s["arms"], indent=1))


if __name__ == "__main__":
    main()
