"""Reproduce the paper's Table 1 (STL, MTL, MTL+GradNorm, MTL+surface, SEM-CGCNN) on the shipped
Mg slabs, for random and grouped-by-system splits, several seeds; resumable per run.

A study, not part of the installed library: it imports the installed ``semcgcnn`` only.
Run ``python studies/table1.py --help``; studies/README.md has the commands behind the
committed report.
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

from semcgcnn.model.config import ModelConfig, TrainConfig
from semcgcnn.model.data import GraphTensors
from semcgcnn.model.training.data import TASKS, load_mg_tensors
from semcgcnn.model.training.recipes import VARIANTS
from semcgcnn.model.training.splits import make_split
from semcgcnn.model.training.train import train

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
"""The checkout this study lives in: its default paths are anchored here, not to the working directory."""

PAPER = {  # Table 1 of the paper (3526 slabs, random split): SE MAE, SE R², WF MAE, WF R²
    "stl": (0.0055, 0.9056, 0.1253, 0.8578),
    "mtl": (0.0059, 0.8807, 0.1261, 0.8843),
    "mtl-gradnorm": (0.0053, 0.9081, 0.1288, 0.8802),
    "mtl-surface": (0.0056, 0.8986, 0.1211, 0.8843),
    "sem": (0.0053, 0.9348, 0.1180, 0.9072),
}


def result_path(results_dir: Path, split: str, variant: str, seed: int, epochs: int) -> Path:
    return Path(results_dir) / f"{epochs}ep" / split / variant / f"seed{seed}.json"


def read_results(results_dir: Path, epochs: int) -> list[dict]:
    """Every finished cell of the ``epochs`` schedule in ``results_dir``."""
    return [json.loads(p.read_text()) for p in sorted(Path(results_dir).glob(f"{epochs}ep/*/*/seed*.json"))]


def run_variant(
    data: GraphTensors,
    groups,
    variant: str,
    split: str,
    seed: int,
    train_cfg: TrainConfig,
    results_dir: Path,
    runs_dir: Path,
    progress: bool = True,
) -> dict:
    """Train one Table-1 cell (one or two models) unless its result file exists; return the result.

    Results are small JSON files meant to be committed (so later sittings skip finished cells);
    epoch checkpoints go to ``runs_dir`` (not committed) so an interrupted cell resumes.
    """
    out = result_path(results_dir, split, variant, seed, train_cfg.epochs)
    if out.exists():
        return json.loads(out.read_text())
    task_sets, surface, weighting = VARIANTS[variant]
    idx = make_split(split, len(data), groups, seed)
    cfg = replace(train_cfg, seed=seed, split=split, weighting=weighting)
    metrics: dict = {}
    t0 = time.perf_counter()
    epoch_s = []
    for tasks in task_sets:
        cols = [TASKS.index(t) for t in tasks]
        sub = _select_tasks(data, cols)
        res = train(
            sub,
            idx,
            ModelConfig(tasks=tasks, surface_flag=surface),
            cfg,
            run_dir=Path(runs_dir) / out.relative_to(results_dir).with_suffix("") / "_".join(tasks),
            progress=progress,
        )
        for t in tasks:
            metrics[t] = res.metrics["test"][t]
        epoch_s.append(res.epoch_s)
        log.info(
            "%s/%s seed %d %s: %s",
            split,
            variant,
            seed,
            tasks,
            {t: round(res.metrics["test"][t]["mae"], 5) for t in tasks},
        )
    result = {
        "variant": variant,
        "split": split,
        "seed": seed,
        "train_config": cfg.to_dict(),
        "n_train_val_test": [int(len(i)) for i in idx],
        "test": metrics,
        "wall_s": time.perf_counter() - t0,
        "epoch_s": float(np.mean(epoch_s)),
        "test_systems": sorted(set(groups[idx[2]])) if split == "grouped" else None,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _select_tasks(data: GraphTensors, cols: list[int]) -> GraphTensors:
    if cols == list(range(data.y.shape[1])):
        return data
    sub = object.__new__(GraphTensors)
    sub.__dict__.update(data.__dict__)
    sub.y = data.y[:, cols]
    return sub


def summarize(results: list[dict]) -> dict:
    """Mean ± std over seeds per (split, variant)."""
    table: dict = {}
    for r in results:
        cell = table.setdefault(r["split"], {}).setdefault(
            r["variant"], {"seeds": [], "wall_s": [], "epoch_s": []}
        )
        cell["seeds"].append(r["seed"])
        cell["wall_s"].append(r["wall_s"])
        cell["epoch_s"].append(r["epoch_s"])
        for t, m in r["test"].items():
            for k in ("mae", "r2", "rmse"):
                cell.setdefault(f"{t}_{k}", []).append(m[k])
    out: dict = {}
    for split, variants in table.items():
        for v, cell in variants.items():
            agg = {
                "seeds": cell["seeds"],
                "wall_s_mean": float(np.mean(cell["wall_s"])),
                "epoch_s_mean": float(np.mean(cell["epoch_s"])),
            }
            for k, vals in cell.items():
                if k not in ("seeds", "wall_s", "epoch_s"):
                    agg[k] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "values": vals}
            out.setdefault(split, {})[v] = agg
    return out


def write_report(summary: dict, train_cfg: TrainConfig, path_md: Path, device: str, notes: str = "") -> None:
    """Markdown table (and a .json twin) of ``summary``; ``notes`` (Markdown) is appended."""
    path_md.parent.mkdir(parents=True, exist_ok=True)
    path_md.with_suffix(".json").write_text(
        json.dumps(
            {"train_config": train_cfg.to_dict(), "device": device, "paper": PAPER, "results": summary},
            indent=2,
        )
        + "\n"
    )
    lines = [
        "# Table 1 reproduced: SEM-CGCNN variants on the 3218 shipped Mg–X slabs",
        "",
        f"Measured on: {device}. Schedule: {train_cfg.epochs} epochs, batch {train_cfg.batch_size}, "
        f"Adam lr {train_cfg.lr} ×{train_cfg.lr_drop_factor} from epoch {train_cfg.lr_drop_epoch}; "
        "60/20/20 splits, best-validation model, test-set metrics. Mean ± std over seeds (no ± with one seed).",
        "Paper numbers: 3526 slabs (7 systems of which are withheld here), random split.",
        "",
    ]
    for split, title in (
        ("grouped", "Grouped by chemical system (whole Mg–X systems held out): the screening figure"),
        ("random", "Random split (paper-comparable)"),
    ):
        if split not in summary:
            continue
        lines += [
            f"## {title}",
            "",
            "| variant | SE MAE (eV/Å²) | SE R² | WF MAE (eV) | WF R² | seeds | wall per run (s) | s/epoch | paper SE MAE / R² | paper WF MAE / R² |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for v in VARIANTS:
            if v not in summary[split]:
                continue
            c = summary[split][v]
            p = PAPER[v]

            def f(k: str, d: int, c=c) -> str:
                if k not in c:
                    return "—"
                spread = f" ± {c[k]['std']:.{d}f}" if len(c[k]["values"]) > 1 else ""
                return f"{c[k]['mean']:.{d}f}{spread}"

            lines.append(
                f"| {v} | {f('surface_energy_mae', 4)} | {f('surface_energy_r2', 3)} | {f('work_function_mae', 3)} | "
                f"{f('work_function_r2', 3)} | {len(c['seeds'])} | {c['wall_s_mean']:.0f} | {c['epoch_s_mean']:.2f} | "
                f"{p[0]} / {p[1]} | {p[2]} / {p[3]} |"
            )
        lines.append("")
    if notes:
        lines += [notes.strip(), ""]
    path_md.write_text("\n".join(lines) + "\n")


def setup_logging() -> None:
    """INFO messages to stderr, as the ``semcgcnn`` command line does."""
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False)],
    )


def main(
    seeds: Annotated[int, typer.Option(help="Seeds per variant (0..seeds-1).")] = 1,
    splits: Annotated[str, typer.Option(help="Comma list of 'grouped' and/or 'random'.")] = "grouped,random",
    variants: Annotated[
        str, typer.Option(help="Comma list of stl, mtl, mtl-gradnorm, mtl-surface, sem.")
    ] = "stl,mtl,mtl-gradnorm,mtl-surface,sem",
    epochs: Annotated[int, typer.Option(help="Epochs per model (paper: 150).")] = 150,
    lr_drop_epoch: Annotated[
        int, typer.Option(help="Epoch of the ×0.1 learning-rate drop (paper: 100).")
    ] = 100,
    batch_size: Annotated[int, typer.Option(help="Crystals per batch.")] = 64,
    results_dir: Annotated[
        Path, typer.Option(help="Per-cell result JSON (committed; finished cells are skipped).")
    ] = REPO / "reports/table1_runs",
    runs_dir: Annotated[Path, typer.Option(help="Epoch checkpoints, so an interrupted cell resumes.")] = REPO
    / "runs/table1",
    report: Annotated[Path, typer.Option(help="Markdown report; a .json twin is written beside it.")] = REPO
    / "reports/table1.md",
    device: Annotated[str, typer.Option(help="Where it ran, for the report.")] = "CPU, 2 cores",
    threads: Annotated[
        int, typer.Option(help="torch threads (0: all cores); one per process when several run.")
    ] = 0,
    notes: Annotated[
        str, typer.Option(help="Markdown file appended to the report (what was tried, caveats).")
    ] = "",
    report_only: Annotated[
        bool,
        typer.Option(
            help="Train nothing: rewrite the report from the cells already in "
            "--results-dir for this --epochs schedule."
        ),
    ] = False,
) -> None:
    """Reproduce the paper's Table 1 on the shipped Mg slabs; finished cells are skipped and the
    report is refreshed after every cell."""
    from semcgcnn.cli.common import console, csv_items, fail

    split_list = csv_items(splits)
    variant_list = csv_items(variants)
    bad = [s for s in split_list if s not in ("grouped", "random")] + [
        v for v in variant_list if v not in VARIANTS
    ]
    if bad or seeds < 1 or epochs < 1:
        raise fail(f"unknown split/variant {bad} or non-positive seeds/epochs")
    cfg = TrainConfig(epochs=epochs, lr_drop_epoch=lr_drop_epoch, batch_size=batch_size, threads=threads)
    note_text = Path(notes).read_text() if notes and Path(notes).exists() else ""
    if report_only:
        write_report(summarize(read_results(results_dir, epochs)), cfg, report, device, note_text)
    else:
        data, groups = load_mg_tensors()
        for split in split_list:
            for variant in variant_list:
                for seed in range(seeds):
                    log.info("table1: %s / %s / seed %d", split, variant, seed)
                    run_variant(data, groups, variant, split, seed, cfg, results_dir, runs_dir)
                    note_text = Path(notes).read_text() if notes and Path(notes).exists() else ""
                    write_report(summarize(read_results(results_dir, epochs)), cfg, report, device, note_text)
    console.print(report.read_text())


if __name__ == "__main__":
    setup_logging()
    typer.run(main)
