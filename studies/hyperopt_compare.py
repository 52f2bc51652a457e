"""Does the TPE search's best configuration beat the paper's? (paper §2.3)

    semcgcnn hyperopt --out runs/hyperopt --max-evals 30 --epochs 4 --train-fraction 0.3 --threads 1
    python studies/hyperopt_compare.py --search runs/hyperopt --only paper   # may run beside the search
    python studies/hyperopt_compare.py --search runs/hyperopt --only best    # once the search has finished
    python studies/hyperopt_compare.py --search runs/hyperopt --report-only  # (studies/README.md)

Trains the search's best point and the paper's configuration (the config defaults) with exactly
a trial's short schedule (its epochs, learning-rate drop and training-row fraction) on the grouped
and the random split of the Mg–X slabs, and reports their test MAEs. The grouped split's test
systems were never used by the search (it validated on the grouped validation systems), so that
comparison is unbiased; the random split's test rows share systems with the training rows.

Writes one JSON per (configuration, split) under ``--results-dir`` (a finished one is read back,
never retrained), then ``--report`` (markdown) and its ``.json`` twin: every trial
(``{params, val_loss}``), the best, the paper point's score and the comparison.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer

from semcgcnn.datasets import TARGETS
from semcgcnn.model.config import HyperoptConfig
from semcgcnn.model.training.data import TASKS
from semcgcnn.model.training.tpe_search import RESULT_FILE, TRIALS_FILE, MgData, paper_params, train_point

log = logging.getLogger("hyperopt_compare")

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("grouped", "random")
MACHINE = "CPU, 2 cores shared with other jobs (no GPU lent); 1 torch thread per process, nice 19"


def search_result(search: Path) -> dict:
    """The finished search's summary (``hyperopt.json``), with its wall time summed from the trials."""
    result = json.loads((search / RESULT_FILE).read_text())
    trials = json.loads((search / TRIALS_FILE).read_text())["trials"]
    result["search_wall_s"] = round(sum(t["wall_s"] for t in trials[: len(result["trials"])]), 1)
    return result


def compare_one(
    data: MgData, name: str, params: dict, split: str, cfg: HyperoptConfig, results_dir: Path
) -> dict:
    """Test MAEs of ``params`` trained on ``split`` at a trial's schedule; cached."""
    path = results_dir / f"{name}-{split}.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    res = train_point(data, params, cfg, split=split)
    out = {
        "config": name,
        "split": split,
        "params": params,
        "epochs": cfg.epochs,
        "lr_drop_epoch": cfg.lr_drop_epoch,
        "train_fraction": cfg.train_fraction,
        "seed": cfg.seed,
        "best_epoch": res.best_epoch,
        "wall_s": round(time.perf_counter() - t0, 1),
        **{f"test_mae_{TARGETS[t].column}": res.metrics["test"][t]["mae"] for t in TASKS},
        **{f"val_mae_{TARGETS[t].column}": res.metrics["val"][t]["mae"] for t in TASKS},
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    log.info("%s on %s: %s", name, split, out)
    return out


def report(payload: dict, out: Path) -> None:
    """The markdown report."""
    cfg, best, paper = payload["config"], payload["best"], payload["paper"]
    cols = [TARGETS[t].column for t in TASKS]
    lines = [
        "# TPE hyper-parameter search (paper §2.3)",
        "",
        f"Measured on: {payload['machine']}.",
        "",
        f"`semcgcnn hyperopt`: {len(payload['trials'])} trials (the paper ran 200), {cfg['epochs']} epochs per trial "
        f"(learning rate ×0.1 after epoch {round(cfg['epochs'] * cfg['lr_drop_fraction'])}), each on a seeded "
        f"{cfg['train_fraction']:.0%} of the training rows of the fixed **{cfg['split']}** split of the 3218 Mg–X slabs "
        f"(seed {cfg['seed']}); the first trial is the paper's configuration, the next {cfg['n_startup'] - 1} random, "
        f"then TPE. Search wall time {payload['search_wall_s'] / 60:.1f} min.",
        "",
        f"Objective (lower is better): {payload['objective']}.",
        "",
        "| | val loss | lr | batch | atom fea | h fea | conv | hidden | depth (Å) | GradNorm α | weight decay |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, t in ((f"best (trial {best['tid']:d})", best), (f"paper (trial {paper['tid']:d})", paper)):
        p = t["params"]
        lines.append(
            f"| {name} | {t['val_loss']:.4f} | {p['lr']:.2e} | {p['batch_size']} | {p['atom_fea_len']} | "
            f"{p['h_fea_len']} | {p['n_conv']} | {p['n_hidden']} | {p['surface_depth']} | "
            f"{p['gradnorm_alpha']:.2f} | {p['weight_decay']:.1e} |"
        )
    lines += [
        "",
        f"## Best against the paper's configuration: a trial's schedule ({cfg['epochs']} epochs, "
        f"{cfg['train_fraction']:.0%} of the split's training rows, seed {cfg['seed']})",
        "",
        "Test MAE (the grouped test systems were never seen by the search):",
        "",
        "| split | configuration | SE MAE (eV/Å²) | WF MAE (eV) | best epoch | wall (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for split, by_cfg in payload["comparison"].items():
        for name, r in by_cfg.items():
            lines.append(
                f"| {split} | {name} | {r[f'test_mae_{cols[0]}']:.4f} | {r[f'test_mae_{cols[1]}']:.3f} | "
                f"{r['best_epoch']} | {r['wall_s']:.0f} |"
            )
    steps = payload["train_rows"] * cfg["epochs"] / 64
    lines += [
        "",
        payload["verdict"],
        "",
        f"Caveat: a trial trains {cfg['epochs']} epochs on {payload['train_rows']} slabs (≈ {steps:.0f} optimiser "
        "steps at batch 64), so the objective ranks how fast a configuration learns, not its accuracy at the "
        "paper's 150 epochs; smaller batches take more steps per epoch and are favoured by it. The comparison "
        "uses the same short schedule, so it does not say which configuration wins at 150 epochs. "
        f"{len(payload['trials'])} trials against the paper's 200; one seed.",
        "",
    ]
    if payload.get("comparison_30ep"):
        lines += long_lines(payload["comparison_30ep"])
    if payload.get("note"):
        lines += [payload["note"], ""]
    out.write_text("\n".join(lines))


def long_comparison(results_dir: Path, table1_dir: Path) -> dict:
    """The best configuration trained at Table 1's 30-epoch schedule on all training rows
    (``--epochs 30 --lr-drop-epoch 22 --train-fraction 1``, one JSON per split in ``results_dir``)
    against Table 1's ``sem`` cell, which is the paper's configuration at that schedule, split and seed."""
    out = {}
    for split in SPLITS:
        best = results_dir / f"best-{split}.json"
        cell = table1_dir / "30ep" / split / "sem" / "seed0.json"
        if not (best.exists() and cell.exists()):
            continue
        b, t = json.loads(best.read_text()), json.loads(cell.read_text())
        out[split] = {
            "best": {c: b[f"test_mae_{c}"] for c in (TARGETS[x].column for x in TASKS)}
            | {"wall_s": b["wall_s"]},
            "paper (Table 1 sem cell)": {TARGETS[x].column: t["test"][x]["mae"] for x in TASKS}
            | {"wall_s": t["wall_s"]},
        }
    return out


def long_lines(long: dict) -> list[str]:
    cols = [TARGETS[t].column for t in TASKS]
    lines = [
        "## Best against the paper's configuration at Table 1's schedule (30 epochs, lr ×0.1 at 22, all "
        "training rows, seed 0)",
        "",
        "The paper's configuration at this schedule, split and seed is Table 1's `sem` cell "
        "(`reports/table1_runs/30ep/SPLIT/sem/seed0.json`); the best one was trained with "
        "`--epochs 30 --lr-drop-epoch 22 --train-fraction 1`.",
        "",
        "| split | configuration | SE MAE (eV/Å²) | WF MAE (eV) | wall (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for split, by_cfg in long.items():
        for name, r in by_cfg.items():
            lines.append(f"| {split} | {name} | {r[cols[0]]:.4f} | {r[cols[1]]:.3f} | {r['wall_s']:.0f} |")
    said = []
    for split, by_cfg in long.items():
        best, paper = by_cfg["best"], by_cfg["paper (Table 1 sem cell)"]
        said.append(f"{split}: " + ", ".join(f"{c} {100 * (best[c] / paper[c] - 1):+.0f} %" for c in cols))
    return lines + [
        "",
        "Best against the paper's configuration (test MAE change): "
        + "; ".join(said)
        + ". One seed each; the paper's 150-epoch schedule was not run for the best configuration.",
        "",
    ]


def verdict(comparison: dict) -> str:
    """Which configuration has the lower test MAE, per split and task."""
    parts = []
    for split, by_cfg in comparison.items():
        if not {"best", "paper"} <= set(by_cfg):
            continue
        wins = [
            TARGETS[t].column
            for t in TASKS
            if by_cfg["best"][f"test_mae_{TARGETS[t].column}"]
            < by_cfg["paper"][f"test_mae_{TARGETS[t].column}"]
        ]
        parts.append(
            f"{split}: the best configuration has the lower test MAE for "
            f"{', '.join(wins) if wins else 'neither target'}"
        )
    return "At this short schedule — " + "; ".join(parts) + "." if parts else ""


def plot_trials(payload: dict, png: Path) -> None:
    """Validation loss of every trial in order, the best so far, and the paper's configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    loss = np.array(
        [t["val_loss"] if t["val_loss"] is not None else np.nan for t in payload["trials"]], dtype=float
    )
    n_startup = payload["config"]["n_startup"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    x = np.arange(len(loss))
    ax.scatter(x[:n_startup], loss[:n_startup], s=18, c="0.6", label="random start-up trials")
    ax.scatter(x[n_startup:], loss[n_startup:], s=18, c="tab:blue", label="TPE trials")
    ax.plot(x, np.fmin.accumulate(np.nan_to_num(loss, nan=np.inf)), c="tab:orange", label="best so far")
    ax.axhline(payload["paper"]["val_loss"], c="k", ls="--", lw=1, label="paper's configuration")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation loss (MAE / std, mean of tasks)")
    ax.set_title(f"TPE search: {len(loss)} trials, grouped split", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)


def main(
    search: Annotated[Path, typer.Option(help="Folder of a `semcgcnn hyperopt` search.")] = REPO
    / "runs"
    / "hyperopt",
    results_dir: Annotated[Path, typer.Option(help="One JSON per (configuration, split).")] = REPO
    / "runs"
    / "hyperopt_compare",
    report_path: Annotated[
        Path, typer.Option("--report", help="Markdown report (.json twin beside it).")
    ] = REPO / "reports" / "hyperopt.md",
    only: Annotated[str, typer.Option(help="Train only this configuration (best or paper); no report.")] = "",
    splits: Annotated[str, typer.Option(help="Comma-separated splits to train (grouped,random).")] = ",".join(
        SPLITS
    ),
    report_only: Annotated[
        bool, typer.Option(help="Train nothing; write the report from existing results.")
    ] = False,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    note: Annotated[str, typer.Option(help="A paragraph appended to the report (how the run went).")] = "",
    epochs: Annotated[int, typer.Option(help="Train the comparison this many epochs (0: a trial's).")] = 0,
    lr_drop_epoch: Annotated[int, typer.Option(help="With --epochs: the epoch of the ×0.1 drop.")] = 0,
    train_fraction: Annotated[float, typer.Option(help="Share of the training rows (0: a trial's).")] = 0.0,
    long_results: Annotated[
        Path | None,
        typer.Option(help="Results of the best configuration at Table 1's 30-epoch schedule (report only)."),
    ] = None,
    table1_results: Annotated[
        Path, typer.Option(help="Table 1's results (the paper configuration's cells).")
    ] = REPO / "reports" / "table1_runs",
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    trials = json.loads((search / TRIALS_FILE).read_text())
    schedule = {"threads": threads}
    if epochs:
        schedule |= {"epochs": epochs, "lr_drop_fraction": (lr_drop_epoch or round(epochs * 2 / 3)) / epochs}
    if train_fraction:
        schedule["train_fraction"] = train_fraction
    cfg = HyperoptConfig.from_dict({**trials["config"], **schedule})
    names = [only] if only else ["best", "paper"]
    if not report_only:
        data = MgData(cfg.row_stride)
        for name in names:
            params = paper_params() if name == "paper" else search_result(search)["best"]["params"]
            for split in splits.split(","):
                compare_one(data, name, params, split, cfg, results_dir)
    if only:
        return
    result = search_result(search)
    comparison = {
        s: {n: json.loads((results_dir / f"{n}-{s}.json").read_text()) for n in ("best", "paper")}
        for s in SPLITS
    }
    payload = {
        "machine": MACHINE,
        **{k: result[k] for k in ("objective", "config", "space", "search_wall_s")},
        "trials": [{"params": t["params"], "val_loss": t["val_loss"]} for t in result["trials"]],
        "best": result["best"],
        "paper": result["paper"],
        "comparison": comparison,
        "verdict": verdict(comparison),
        "note": note,
        "comparison_30ep": long_comparison(long_results, table1_results) if long_results else {},
        "train_rows": int(len(MgData(cfg.row_stride).split(cfg.split, cfg.seed, cfg.train_fraction)[0])),
    }
    report_path.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    report(payload, report_path)
    plot_trials(payload, report_path.with_suffix(".png"))
    log.info("wrote %s", report_path)


if __name__ == "__main__":
    typer.run(main)
