"""Active-learning benchmark: labels chosen by the ensemble's uncertainty
against labels chosen at random, with the shipped DFT labels as the oracle.

    python studies/active_learning.py --members studies/models/grouped-s0-ensemble \\
        --out reports/active_learning.json --report reports/active_learning.md

Base: ``studies/models/semcgcnn-grouped-s0`` (never saw the grouped split's validation and test
Mg–X systems); its uncertainty: the grouped-split ensemble (the base plus its perturbed members,
``studies/ensemble_members.py``). For each budget b (slabs per held-out test system) and seed, b
slabs of each of the 11 test systems are labelled (the most uncertain: σ_SE/median + σ_WF/median,
as ``semcgcnn select`` scores; or a random draw), the base is fine-tuned on all of them at once
(``semcgcnn finetune`` defaults: 50 epochs, Adam 1e-4, replay 0.5, this seed), and the MAE is
measured on the systems' remaining slabs. Because the uncertain picks take the hard slabs out of
the "remaining" set, the MAE is also given on a *common* set: the slabs neither strategy picked.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import torch
import typer
from finetune import BASE, Bench

from semcgcnn.model.training.extra_labels import load_extra_labels
from semcgcnn.model.training.finetune import FinetuneConfig, finetune
from semcgcnn.pipeline.analysis.selection import uncertainty_score
from semcgcnn.units import UNITS

log = logging.getLogger("active_learning")
BUDGETS = (0, 5, 10, 20)


def ensemble_scores(bench: Bench, members: Path, rows: np.ndarray) -> np.ndarray:
    """The selection score of every row, from the ensemble's member spread."""
    from ensemble import member_predictions, member_stems

    preds = member_predictions(member_stems(BASE, members), bench.data, rows)
    std = preds.std(axis=0, ddof=1)
    return uncertainty_score(
        pd.DataFrame({"surface_energy_eV_per_A2_std": std[:, 0], "work_function_eV_std": std[:, 1]})
    ).to_numpy()


def picks(bench: Bench, systems, b: int, strategy: str, scores: dict[int, float], seed: int) -> np.ndarray:
    chemsys = bench.frame["chemsys"].to_numpy()
    rng = np.random.default_rng(seed)
    out = []
    for s in sorted(systems):
        rows = np.flatnonzero(chemsys == s)
        if strategy == "uncertainty":
            order = sorted(rows, key=lambda r: (-scores[r], r))
            out.append(np.array(order[:b]))
        else:
            out.append(rng.choice(rows, min(b, len(rows)), replace=False))
    return np.sort(np.concatenate(out)).astype(int)


def main(
    members: Annotated[Path, typer.Option(help="Folder of the grouped-split members (member-sN).")],
    out: Annotated[Path, typer.Option(help="Result JSON.")] = Path("reports/active_learning.json"),
    report: Annotated[Path, typer.Option(help="Markdown report (a PNG beside it).")] = Path(
        "reports/active_learning.md"
    ),
    seeds: Annotated[str, typer.Option(help="Comma list of seeds (random draws and fine-tuning).")] = "0,1",
    work: Annotated[Path, typer.Option(help="Scratch folder for the labels files.")] = Path(
        "runs/active_learning"
    ),
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(1)
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(BASE, work)
    systems = bench.ck.card["test_systems"]
    rows = bench.rows_of(systems)
    scores = dict(zip(rows.tolist(), ensemble_scores(bench, members, rows), strict=True))
    seeds_ = [int(s) for s in seeds.split(",")]
    runs = []
    t0 = time.perf_counter()
    for b in BUDGETS:
        for seed in seeds_:
            chosen = {st: picks(bench, systems, b, st, scores, seed) for st in ("uncertainty", "random")}
            common = np.setdiff1d(rows, np.union1d(chosen["uncertainty"], chosen["random"]))
            for strategy, picked in chosen.items():
                rest = np.setdiff1d(rows, picked)
                if b == 0:
                    model, norm, wall = bench.ck.model, bench.ck.normalizer, 0.0
                else:
                    labels = load_extra_labels(
                        bench.labels_file(picked, f"b{b}-{strategy}-s{seed}"), bench.ck.graph_config
                    )
                    t1 = time.perf_counter()
                    res = finetune(
                        bench.ck,
                        labels,
                        replace(FinetuneConfig(), seed=seed),
                        progress=False,
                        replay=bench.pool,
                    )
                    model, norm, wall = res.model, res.normalizer, time.perf_counter() - t1
                run = {
                    "budget_slabs": b,
                    "seed": seed,
                    "strategy": strategy,
                    "n_labels": int(len(picked)),
                    "n_remaining": int(len(rest)),
                    "n_common": int(len(common)),
                    "remaining": bench.mae(model, norm, rest),
                    "common": bench.mae(model, norm, common),
                    "finetune_s": wall,
                }
                runs.append(run)
                log.info(
                    "b=%d seed %d %s: remaining SE %.5f WF %.4f; common SE %.5f WF %.4f",
                    b,
                    seed,
                    strategy,
                    run["remaining"]["surface_energy"],
                    run["remaining"]["work_function"],
                    run["common"]["surface_energy"],
                    run["common"]["work_function"],
                )

    def mean(strategy: str, task: str, where: str = "remaining") -> list[float]:
        return [
            float(
                np.mean(
                    [r[where][task] for r in runs if r["budget_slabs"] == b and r["strategy"] == strategy]
                )
            )
            for b in BUDGETS
        ]

    result = {
        "budget_slabs": list(BUDGETS),
        "mae_se_uncertainty": mean("uncertainty", "surface_energy"),
        "mae_se_random": mean("random", "surface_energy"),
        "mae_wf_uncertainty": mean("uncertainty", "work_function"),
        "mae_wf_random": mean("random", "work_function"),
        "common_set": {
            f"mae_{t[:2]}_{st}": mean(st, task, "common")
            for st in ("uncertainty", "random")
            for t, task in (("se", "surface_energy"), ("wf", "work_function"))
        },
        "units": {"se": UNITS["surface_energy"], "wf": UNITS["work_function"]},
        "budget_unit": "labelled slabs per held-out test system",
        "systems": systems,
        "seeds": seeds_,
        "base_model": bench.ck.model_id,
        "runs": runs,
        "wall_s": time.perf_counter() - t0,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    write_report(result, report)


def write_report(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = r["budget_slabs"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, t, unit in ((axes[0], "se", UNITS["surface_energy"]), (axes[1], "wf", UNITS["work_function"])):
        for st, style in (("uncertainty", "o-"), ("random", "s--")):
            ax.plot(b, r[f"mae_{t}_{st}"], style, label=f"{st} (remaining slabs)")
            ax.plot(b, r["common_set"][f"mae_{t}_{st}"], style, alpha=0.4, label=f"{st} (common set)")
        ax.set_xlabel("labelled slabs per held-out system")
        ax.set_ylabel(f"{t.upper()} MAE ({unit})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path.with_suffix(".png"), dpi=110)
    lines = [
        "# Active learning: uncertainty against random picks",
        "",
        f"Written by `studies/active_learning.py`: base `{r['base_model']}` (grouped split seed 0), the 11 held-out "
        f"test systems, seeds {r['seeds']} averaged, {r['wall_s']:.0f} s. Each budget's labels fine-tune the base "
        "(`semcgcnn finetune` defaults). 'remaining': the systems' slabs not labelled by that strategy; "
        "'common': slabs labelled by neither strategy (the fair comparison).",
        "",
        "| slabs / system | SE uncertainty | SE random | WF uncertainty | WF random | SE unc. (common) | SE rand. (common) | WF unc. (common) | WF rand. (common) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    c = r["common_set"]
    for i, bb in enumerate(b):
        lines.append(
            f"| {bb} | {r['mae_se_uncertainty'][i]:.5f} | {r['mae_se_random'][i]:.5f} | "
            f"{r['mae_wf_uncertainty'][i]:.4f} | {r['mae_wf_random'][i]:.4f} | {c['mae_se_uncertainty'][i]:.5f} | "
            f"{c['mae_se_random'][i]:.5f} | {c['mae_wf_uncertainty'][i]:.4f} | {c['mae_wf_random'][i]:.4f} |"
        )
    lines += ["", "MAE in eV/Å² (SE) and eV (WF).", "", f"![curves]({path.with_suffix('.png').name})", ""]
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    typer.run(main)
