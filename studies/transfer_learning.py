"""Transfer learning (paper §3.2, Fig. 5): a model pretrained on the Mg–X slabs, fine-tuned on the
801 elemental slabs (SE and WF) and on the 3033 Palizhati slabs (SE only), against training from
scratch, at several training-set sizes.

    python studies/transfer_learning.py --pretrain-epochs 30 --epochs 50 --seeds 0,1

1. Pretraining: recipe ``mg`` (the Mg–X slabs only; never the other two sets), both tasks, the
   ``sem`` network (surface flag, GradNorm), readout ``--readout``, a random 10 % of the rows for
   best-validation selection (``split_rows(..., "all")``). Saved as a safe checkpoint
   (``--pretrained``); an existing one is reused.
2. Per target dataset and seed (``--seeds``), a random 20 % test and 20 % validation set and nested
   training sets of the first ``fraction × n`` rows of the remaining pool: the same validation
   and test rows for every fraction and arm.
3. Three arms per (dataset, fraction), the same architecture, schedule, equal task weights and
   best-validation selection: ``sc`` (random initialisation), ``tl`` (all weights from the
   pretrained model; the Palizhati model is one-task, its SE head the pretrained SE head) and
   ``frozen`` (``tl`` with the embedding and convolutions fixed, only the heads trained).

Each finished run writes one JSON under ``--runs-dir`` and is skipped on a rerun; an interrupted
run resumes from its last epoch. The report (``--out`` .json/.png/.md) is rewritten after every run.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from semcgcnn.model.checkpoint import Checkpoint, load_checkpoint
from semcgcnn.model.config import TrainConfig
from semcgcnn.model.training.recipes import device_name, train_shipped
from semcgcnn.model.training.transfer import train_transfer, transfer_tensors
from semcgcnn.units import UNITS as TARGET_UNITS

log = logging.getLogger("transfer_learning")

REPO = Path(__file__).resolve().parents[1]
TARGET_TASKS = {
    "elemental_slabs": ("surface_energy", "work_function"),
    "palizhati_slabs": ("surface_energy",),
}
ARMS = ("sc", "tl", "frozen")
ARM_NAMES = {"sc": "scratch (SC)", "tl": "transfer (TL)", "frozen": "TL, frozen convolutions"}
SHORT = {"surface_energy": "se", "work_function": "wf"}
UNITS = {short: TARGET_UNITS[task] for task, short in SHORT.items()}
HELD_OUT = 0.2  # validation and test, each, of every target dataset
PAPER_PALIZHATI_TL_MAE = 0.0073
"""The paper's best TL surface-energy MAE on the Palizhati slabs (§3.2; its text writes eV/Å), at its largest training set."""


def fraction_splits(n: int, seed: int, fractions: tuple[float, ...]) -> dict[float, tuple[np.ndarray, ...]]:
    """fraction -> (train, val, test) rows: one random permutation gives a fixed test set (first
    20 %), validation set (next 20 %) and a pool whose first ``round(fraction × n)`` rows train
    (nested: a smaller training set is part of every larger one)."""
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(HELD_OUT * n))
    test, val, pool = perm[:k], perm[k : 2 * k], perm[2 * k :]
    out = {}
    for f in fractions:
        m = min(int(round(f * n)), len(pool)) if f <= 1 - 2 * HELD_OUT + 1e-9 else int(round(f * n))
        if not 2 <= m <= len(pool):
            raise ValueError(f"training fraction {f} of {n} rows is {m} rows; the pool holds {len(pool)}")
        out[f] = (np.sort(pool[:m]), np.sort(val), np.sort(test))
    return out


def pretrain(out: Path, cfg: TrainConfig, readout: str, runs_dir: Path) -> tuple[Checkpoint, float]:
    """The Mg–X-only pretrained model at ``out`` (trained unless it exists; resumable) and the
    wall time its training took (recorded in ``runs_dir/pretrain.json``)."""
    record = runs_dir / "pretrain.json"
    if not out.with_suffix(".json").exists():
        log.info("pretraining on the Mg–X slabs: %d epochs", cfg.epochs)
        t0 = time.perf_counter()
        train_shipped(
            "mg",
            cfg,
            out=out,
            runs_dir=runs_dir / "pretrain",
            validation="all",
            readout=readout,
            progress=False,
        )
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({"wall_s": time.perf_counter() - t0, "epochs": cfg.epochs}) + "\n")
    else:
        log.info("reusing the pretrained model %s (its own schedule, not --pretrain-epochs)", out)
    wall = json.loads(record.read_text())["wall_s"] if record.exists() else float("nan")
    return load_checkpoint(out), wall


def run_one(
    parent: Checkpoint,
    data,
    split,
    arm: str,
    tasks: tuple[str, ...],
    cfg: TrainConfig,
    result: Path,
    run_dir: Path,
) -> dict:
    """One trained arm's result (read back if ``result`` exists)."""
    if result.exists():
        return json.loads(result.read_text())
    t0 = time.perf_counter()
    res = train_transfer(
        parent,
        data,
        split,
        cfg,
        tasks=tasks,
        freeze=arm == "frozen",
        scratch=arm == "sc",
        run_dir=run_dir,
        progress=False,
    )
    out = {
        "arm": arm,
        "tasks": list(tasks),
        "n_train": len(split[0]),
        "n_val": len(split[1]),
        "n_test": len(split[2]),
        "best_epoch": res.best_epoch,
        "wall_s": time.perf_counter() - t0,
        "epoch_s": res.epoch_s,
        "train_config": cfg.to_dict(),
        "parent_model_id": parent.model_id,
        **{name: res.metrics[name] for name in ("train", "val", "test")},
    }
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps(out, indent=2) + "\n")
    return out


def _mae(results: dict, key: tuple, task: str) -> float | None:
    return results[key]["test"][task]["mae"] if key in results else None


def summarise(results: dict, fractions: tuple[float, ...], seeds: tuple[int, ...], n_rows: dict) -> dict:
    """Per dataset: the fractions, training sizes, and per arm and task the test MAE per fraction
    as the mean over seeds (``{arm}_mae_{task}``; None until every seed has run) and per seed
    (``{arm}_mae_{task}_per_seed``, in ``seeds`` order), with the best epochs (1-based) per seed."""
    out = {}
    for ds, tasks in TARGET_TASKS.items():
        entry: dict = {"fractions": list(fractions), "seeds": list(seeds), "n_rows": n_rows.get(ds)}
        for arm in ARMS:
            for t in tasks:
                per_seed = [[_mae(results, (ds, sd, f, arm), t) for f in fractions] for sd in seeds]
                entry[f"{arm}_mae_{SHORT[t]}"] = [
                    None if any(v is None for v in col) else float(np.mean(col))
                    for col in zip(*per_seed, strict=True)
                ]
                entry[f"{arm}_mae_{SHORT[t]}_per_seed"] = per_seed
            entry[f"{arm}_best_epoch_per_seed"] = [
                [
                    results[(ds, sd, f, arm)]["best_epoch"] + 1 if (ds, sd, f, arm) in results else None
                    for f in fractions
                ]
                for sd in seeds
            ]
        runs = [r for (d, *_), r in results.items() if d == ds]
        entry["n_train"] = [
            next((r["n_train"] for (d, _, g, _), r in results.items() if d == ds and g == f), None)
            for f in fractions
        ]
        entry["n_val_test"] = [runs[0]["n_val"], runs[0]["n_test"]] if runs else None
        entry["wall_s"] = float(sum(r["wall_s"] for r in runs))
        out[ds] = entry
    return out


def _values(v: list) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], float)


def plot(summary: dict, png: Path) -> Path:
    """MAE against training fraction, one panel per (dataset, task), one line per arm (the mean
    over seeds; bars: the range over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(ds, t) for ds, tasks in TARGET_TASKS.items() for t in tasks]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    for ax, (ds, t) in zip(axes, panels, strict=True):
        s = summary[ds]
        for arm, style in zip(ARMS, ("o-", "s-", "^--"), strict=True):
            key = f"{arm}_mae_{SHORT[t]}"
            per_seed = np.array([_values(v) for v in s[f"{key}_per_seed"]])
            mean = np.nanmean(per_seed, axis=0) if np.isfinite(per_seed).any() else _values(s[key])
            err = (
                np.vstack([mean - np.nanmin(per_seed, axis=0), np.nanmax(per_seed, axis=0) - mean])
                if len(per_seed) > 1 and np.isfinite(per_seed).any()
                else None
            )
            ax.errorbar(s["fractions"], mean, yerr=err, fmt=style, capsize=3, label=ARM_NAMES[arm])
        ax.set_title(f"{ds}: {t.replace('_', ' ')}")
        ax.set_xlabel("training fraction of the dataset")
        ax.set_ylabel(f"test MAE ({UNITS[SHORT[t]]})")
        ax.set_xticks(s["fractions"])
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def _fmt(mean: float | None, per_seed: list) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4f}" if len(per_seed) == 1 else f"{mean:.4f} [{', '.join(f'{v:.4f}' for v in per_seed)}]"


def _table(summary: dict) -> list[str]:
    """The test-MAE table: one row per (dataset, task, fraction); the mean over seeds [each seed]."""
    lines = [
        "| dataset | task | fraction | n train | SC | TL | frozen | TL / SC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ds, tasks in TARGET_TASKS.items():
        s = summary[ds]
        for t in tasks:
            k = SHORT[t]
            for i, f in enumerate(s["fractions"]):
                cells = [_fmt(s[f"{a}_mae_{k}"][i], [v[i] for v in s[f"{a}_mae_{k}_per_seed"]]) for a in ARMS]
                sc, tl = s[f"sc_mae_{k}"][i], s[f"tl_mae_{k}"][i]
                ratio = "—" if sc is None or tl is None else f"{tl / sc:.2f}"
                n = s["n_train"][i] if s["n_train"][i] is not None else "—"
                lines.append(f"| {ds} | {t} ({UNITS[k]}) | {f:.1f} | {n} | {' | '.join(cells)} | {ratio} |")
    return lines


def write_report(summary: dict, meta: dict, out: Path) -> None:
    """``out`` (.md), its .json twin and .png plot."""
    png = plot(summary, out.with_suffix(".png"))
    out.with_suffix(".json").write_text(json.dumps({**summary, "meta": meta}, indent=2) + "\n")
    seeds = ", ".join(map(str, meta["seeds"]))
    lines = [
        "# Transfer learning from the Mg–X model (paper Fig. 5)",
        "",
        f"Pretrained model `{meta['pretrained']['model_id']}` (`studies/models/semcgcnn-mg-only`; recipe `mg`: the "
        f"{meta['pretrained']['n_train_val'][0]} + {meta['pretrained']['n_train_val'][1]} (validation) Mg–X slabs only, "
        f"SE and WF, readout `{meta['readout']}`, {meta['pretrain_config']['epochs']} epochs (×0.1 learning rate after "
        f"epoch {meta['pretrain_config']['lr_drop_epoch']}), GradNorm, seed {meta['pretrain_config']['seed']}, best "
        f"validation at epoch {meta['pretrained']['best_epoch'] + 1}; validation MAE SE "
        f"{meta['pretrained']['val_mae']['surface_energy']:.4f} eV/Å², WF {meta['pretrained']['val_mae']['work_function']:.3f} eV).",
        "",
        "Target data: per dataset and seed a random 20 % test and 20 % validation set, the same for every fraction and "
        "arm; nested training sets of the given fraction of the whole dataset (0.6: all the rest; the paper's "
        "fractions are of that rest, so its smallest, 20 %, is 0.12 here and was not run). Arms: SC (random "
        "initialisation), TL (every weight from the pretrained model; the Palizhati model is one-task, its SE head "
        "the pretrained SE head), frozen (TL with embedding and convolutions fixed, batch-norm statistics included; "
        "only the heads train). "
        f"Schedule, the same for every arm: {meta['train_config']['epochs']} epochs, Adam "
        f"{meta['train_config']['lr']:g}, ×{meta['train_config']['lr_drop_factor']:g} after epoch "
        f"{meta['train_config']['lr_drop_epoch']}, batch {meta['train_config']['batch_size']}, equal task weights, "
        "best-validation checkpoint (mean over tasks of validation MAE / training std). "
        f"Seeds {seeds}: each seed draws its own split and initialisation (the pretrained model is the one above).",
        "",
        f"Machine: {meta['device']}. Wall time: pretraining {meta['pretrain_wall_s'] / 60:.1f} min, "
        f"fine-tuning runs {meta['runs_wall_s'] / 60:.1f} min. Regenerate: `{meta['command']}`.",
        "",
        "## Test MAE" + (" (mean over seeds [each seed])" if len(meta["seeds"]) > 1 else ""),
        "",
        *_table(summary),
        "",
        f"![learning curves]({png.name})",
        "",
        "## Conclusion",
        "",
        *meta.get("conclusion", ["(written when every run has finished)"]),
        "",
    ]
    out.write_text("\n".join(lines))


def conclusion(summary: dict, epochs: int, lr_drop_epoch: int) -> list[str]:
    """Plain statements computed from the numbers: where TL (and frozen) beat SC, by how much, the
    seed-to-seed spread, and the best epochs."""
    lines, spreads, wins, pairs = [], [], 0, 0
    for ds, tasks in TARGET_TASKS.items():
        s = summary[ds]
        for t in tasks:
            k = SHORT[t]
            sc, tl, fr = (np.array([_values(v) for v in s[f"{a}_mae_{k}_per_seed"]]) for a in ARMS)
            for a in (sc, tl, fr):
                if len(a) > 1:
                    spreads.extend((np.ptp(a, axis=0) / a.mean(axis=0)).tolist())
            wins, pairs = wins + int(np.sum(tl < sc)), pairs + sc.size
            lines.append(
                f"- {ds}, {t}: TL beats SC in {int(np.sum(tl < sc))} of {sc.size} (fraction, seed) pairs, mean TL/SC MAE "
                + ", ".join(f"{v:.2f}" for v in tl.mean(axis=0) / sc.mean(axis=0))
                + f" at fractions {', '.join(f'{f:g}' for f in s['fractions'])}; frozen beats SC in "
                f"{int(np.sum(fr < sc))} of {sc.size} (frozen/SC "
                + ", ".join(f"{v:.2f}" for v in fr.mean(axis=0) / sc.mean(axis=0))
                + ")."
            )
    pal = summary["palizhati_slabs"]["tl_mae_se"][-1]
    if pal is not None:
        lines.append(
            f"- The paper's best TL MAE on the Palizhati slabs is {PAPER_PALIZHATI_TL_MAE} eV/Å² (largest training "
            f"set); here TL at fraction {summary['palizhati_slabs']['fractions'][-1]:g} reaches {pal:.4f} eV/Å² "
            "(other split, schedule and pretraining, so comparable in size only)."
        )
    if spreads:
        lines.append(
            f"- Seed-to-seed spread of a test MAE (max − min over seeds, relative to the mean), over every "
            f"(dataset, task, fraction, arm): median {100 * np.median(spreads):.0f} %, largest "
            f"{100 * np.max(spreads):.0f} %, as large as the smaller TL gains; but within a seed (the same "
            f"split for every arm) TL was below SC in {wins} of {pairs} pairs."
        )
    else:
        lines.append(
            "- One seed: the seed-to-seed scatter was not measured, so a difference of a few per cent is no "
            "evidence either way."
        )
    best = {
        arm: [
            e
            for ds in TARGET_TASKS
            for row in summary[ds][f"{arm}_best_epoch_per_seed"]
            for e in row
            if e is not None
        ]
        for arm in ARMS
    }
    every = [e for v in best.values() for e in v]
    late = sum(e > lr_drop_epoch for e in every)
    lines.append(
        "- Best-validation epochs: "
        + "; ".join(f"{ARM_NAMES[arm]} {min(e)}–{max(e)}" for arm, e in best.items() if e)
        + f" of {epochs}; {late} of {len(every)} runs were selected after the learning-rate drop (epochs {lr_drop_epoch + 1}–{epochs})"
        + (
            ". Validation error was still falling late in this short schedule (fixed by the CPU budget, the same for "
            "every arm): no arm ran to convergence, and a longer schedule may move the gaps either way."
            if every and min(every) > 0.8 * epochs
            else "."
        )
    )
    return lines


def main(
    epochs: Annotated[int, typer.Option(help="Fine-tuning / scratch epochs (every arm).")] = 50,
    lr_drop_epoch: Annotated[
        int, typer.Option(help="Epoch from which the learning rate is ×0.1 (fine-tuning).")
    ] = 40,
    batch_size: Annotated[int, typer.Option(help="Fine-tuning / scratch batch size.")] = 32,
    pretrain_epochs: Annotated[int, typer.Option(help="Pretraining epochs on the Mg–X slabs.")] = 30,
    pretrain_lr_drop_epoch: Annotated[int, typer.Option(help="Pretraining learning-rate drop epoch.")] = 22,
    readout: Annotated[
        str, typer.Option(help="Readout of the pretrained (and every) model: paper or surface.")
    ] = "paper",
    fractions: Annotated[
        str, typer.Option(help="Training fractions of each dataset, comma-separated.")
    ] = "0.2,0.4,0.6",
    datasets: Annotated[
        str, typer.Option(help="Target datasets, comma-separated.")
    ] = "elemental_slabs,palizhati_slabs",
    seeds: Annotated[
        str,
        typer.Option(
            help="Seeds (split and initialisation of every run), comma-separated; "
            "the first also seeds pretraining."
        ),
    ] = "0",
    threads: Annotated[int, typer.Option(help="Torch threads.")] = 1,
    pretrained: Annotated[Path, typer.Option(help="Pretrained checkpoint stem (reused if it exists).")] = REPO
    / "studies/models/semcgcnn-mg-only",
    runs_dir: Annotated[Path, typer.Option(help="One result JSON (and resume state) per run.")] = REPO
    / "runs/transfer",
    out: Annotated[Path, typer.Option(help="Markdown report; .json and .png twins next to it.")] = REPO
    / "reports/transfer_learning.md",
) -> None:
    """Pretrain on Mg–X (or reuse), then SC / TL / frozen at each training fraction of each target dataset."""
    fr = tuple(float(f) for f in fractions.split(","))
    sd = tuple(int(v) for v in seeds.split(","))
    chosen = [d.strip() for d in datasets.split(",")]
    bad = [d for d in chosen if d not in TARGET_TASKS]
    if bad:
        raise typer.BadParameter(f"unknown dataset(s) {bad}; choose from {list(TARGET_TASKS)}")
    base = TrainConfig(threads=threads, seed=sd[0], device="cpu")
    pcfg = replace(base, epochs=pretrain_epochs, lr_drop_epoch=pretrain_lr_drop_epoch)
    fcfg = replace(base, epochs=epochs, lr_drop_epoch=lr_drop_epoch, batch_size=batch_size, weighting="equal")
    parent, pretrain_wall = pretrain(pretrained, pcfg, readout, runs_dir)
    results: dict = {}
    n_rows: dict = {}
    meta = _meta(parent, fcfg, readout, sd, pretrain_wall)
    for seed in sd:
        cfg = replace(fcfg, seed=seed)
        for ds in chosen:
            tasks = TARGET_TASKS[ds]
            data, _ = transfer_tensors(parent, (ds,), tasks)
            n_rows[ds] = len(data)
            for f, split in fraction_splits(len(data), seed, fr).items():
                for arm in ARMS:
                    name = f"{ds}/{arm}-f{f:.2f}"
                    run = runs_dir / f"{epochs}ep-s{seed}" / name
                    r = run_one(parent, data, split, arm, tasks, cfg, run.with_name(run.name + ".json"), run)
                    results[(ds, seed, f, arm)] = r
                    log.info(
                        "seed %d %s: test MAE %s (%.0f s)",
                        seed,
                        name,
                        {t: round(r["test"][t]["mae"], 5) for t in tasks},
                        r["wall_s"],
                    )
                    _refresh(results, fr, sd, n_rows, meta, out)


def _refresh(results: dict, fractions, seeds, n_rows: dict, meta: dict, out: Path) -> None:
    """Rewrite the report from the runs finished so far."""
    summary = summarise(results, fractions, seeds, n_rows)
    meta["runs_wall_s"] = float(sum(r["wall_s"] for r in results.values()))
    done = len(results) == len(TARGET_TASKS) * len(seeds) * len(fractions) * len(ARMS)
    cfg = meta["train_config"]
    meta["conclusion"] = (
        conclusion(summary, cfg["epochs"], cfg["lr_drop_epoch"])
        if done
        else ["(written when every run has finished)"]
    )
    write_report(summary, meta, out)


def _meta(
    parent: Checkpoint, fcfg: TrainConfig, readout: str, seeds: tuple[int, ...], pretrain_wall: float
) -> dict:
    card = parent.card
    pcfg = card["train_config"]
    return {
        "pretrained": {
            "model_id": parent.model_id,
            "best_epoch": card.get("best_epoch"),
            "n_train_val": card["training_data"]["n_train_val"],
            "val_mae": {t: card["metrics"]["val"][t]["mae"] for t in parent.tasks},
        },
        "readout": card["model_config"]["readout"],
        "seeds": list(seeds),
        "units": UNITS,
        "pretrain_config": pcfg,
        "train_config": {k: v for k, v in fcfg.to_dict().items() if k != "seed"},
        "pretrain_wall_s": pretrain_wall,
        "runs_wall_s": 0.0,
        "device": f"{device_name('cpu')}, no GPU; {fcfg.threads} torch thread, nice 19, machine shared with other jobs",
        "command": (
            f"python studies/transfer_learning.py --pretrain-epochs {pcfg['epochs']} --pretrain-lr-drop-epoch "
            f"{pcfg['lr_drop_epoch']} --epochs {fcfg.epochs} --lr-drop-epoch {fcfg.lr_drop_epoch} "
            f"--batch-size {fcfg.batch_size} --readout {card['model_config']['readout']} "
            f"--seeds {','.join(map(str, seeds))}"
        ),
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    typer.run(main)
