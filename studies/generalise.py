"""Generalisation to unseen Mg–X systems: the experiments behind the shipped model.

Every experiment is judged first on a grouped split: the validation and test Mg–X systems are
those of Table 1's grouped split (same seed, same systems), and rows of the other datasets
with the same chemical system are dropped from training, so a test system is truly unseen.
The other slab datasets (elemental metals, Palizhati intermetallics) go into training whole.
The recipes, their splits and the shipped model's training are library code
(``semcgcnn.model.training.recipes``); this study runs and reports the experiments.

A study, not part of the installed library: it imports the installed ``semcgcnn`` (and the
report writer beside it) only. Run ``python studies/generalise.py --help``.
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
import typer

from semcgcnn.model.checkpoint import SHIPPED_MODEL
from semcgcnn.model.config import READOUTS, GraphConfig, ModelConfig, TrainConfig
from semcgcnn.model.metrics import regression_metrics
from semcgcnn.model.training.data import TASKS, load_slab_tensors
from semcgcnn.model.training.recipes import RECIPES, device_name, readout_tag, split_rows
from semcgcnn.model.training.train import predict, train

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SHIPPED_CARD = SHIPPED_MODEL.with_suffix(".json")
"""The checkout this study lives in: its default paths are anchored here, not to the working directory."""


def per_system_errors(frame: pd.DataFrame, idx: np.ndarray, y: np.ndarray, pred: np.ndarray) -> list[dict]:
    """MAE and mean signed error per chemical system of the rows ``idx``."""
    out = []
    chemsys = frame["chemsys"].to_numpy()[idx]
    for sysname in sorted(set(chemsys)):
        m = chemsys == sysname
        row = {"chemsys": sysname, "n_slabs": int(m.sum())}
        for k, t in enumerate(TASKS):
            e = pred[m, k] - y[m, k]
            e = e[np.isfinite(e)]
            row[f"{t}_mae"] = float(np.abs(e).mean()) if len(e) else float("nan")
            row[f"{t}_bias"] = float(e.mean()) if len(e) else float("nan")
        out.append(row)
    return out


def variant_tag(train_cfg: TrainConfig, model_cfg: ModelConfig, graph_config: GraphConfig) -> str:
    """``""`` for the paper's hyper-parameters, else e.g. ``-bs32-lr0.0005-h64-sd3-spool`` (what differs)."""
    ref_t, ref_m, ref_g = TrainConfig(), ModelConfig(), GraphConfig()
    parts = [
        f"bs{train_cfg.batch_size}" if train_cfg.batch_size != ref_t.batch_size else "",
        f"lr{train_cfg.lr:g}" if train_cfg.lr != ref_t.lr else "",
        f"h{model_cfg.h_fea_len}" if model_cfg.h_fea_len != ref_m.h_fea_len else "",
        f"sd{graph_config.surface_depth:g}" if graph_config.surface_depth != ref_g.surface_depth else "",
        "spool" if model_cfg.surface_pool else "",
    ]
    return "".join(f"-{p}" for p in parts if p) + readout_tag(model_cfg.readout)


def run_experiment(
    recipe: str,
    split: str,
    train_cfg: TrainConfig,
    results_dir: Path,
    runs_dir: Path,
    graph_config: GraphConfig | None = None,
    progress: bool = True,
    bundle: Path | None = None,
    model_overrides: dict | None = None,
) -> dict:
    """Train ``recipe`` (``sem``: GradNorm + surface flag) on ``split``; test-set metrics and
    per-system errors written to ``results_dir`` (skipped when already there). ``bundle``: read
    the graphs from a training bundle (:func:`~semcgcnn.model.training.data.save_training_bundle`).
    ``model_overrides`` (e.g. ``{"h_fea_len": 64}``), ``graph_config.surface_depth``,
    ``train_cfg.batch_size``/``lr``: hyper-parameter variants, named in the result file
    (:func:`variant_tag`)."""
    r = RECIPES[recipe]
    graph_config = graph_config or GraphConfig()
    model_cfg = replace(r.model_config(), **(model_overrides or {}))
    tag = variant_tag(train_cfg, model_cfg, graph_config)
    out = Path(results_dir) / f"{train_cfg.epochs}ep" / split / f"{recipe}{tag}-seed{train_cfg.seed}.json"
    if out.exists():
        return json.loads(out.read_text())
    data, frame = load_slab_tensors(r.datasets, graph_config, descriptors=r.descriptors, bundle=bundle)
    idx = split_rows(frame, split, train_cfg.seed)
    cfg = replace(train_cfg, split=split)
    t0 = time.perf_counter()
    res = train(
        data,
        idx,
        model_cfg,
        cfg,
        run_dir=Path(runs_dir) / out.relative_to(results_dir).with_suffix(""),
        progress=progress,
    )
    test = idx[2]
    pred = predict(res.model, data, test, res.normalizer)
    y = data.y[test].double().numpy()
    result = {
        "recipe": recipe,
        "description": r.description,
        "split": split,
        "seed": train_cfg.seed,
        "variant": tag,
        "model_config": model_cfg.to_dict(),
        "graph_config": graph_config.to_dict(),
        "train_config": cfg.to_dict(),
        "n_train_val_test": [int(len(i)) for i in idx],
        "test": {t: regression_metrics(y[:, k], pred[:, k]) for k, t in enumerate(TASKS)},
        "test_systems": sorted(set(frame["chemsys"].to_numpy()[test]))
        if split.startswith("grouped")
        else None,
        "per_system": per_system_errors(frame, test, y, pred) if split.startswith("grouped") else None,
        "best_epoch": res.best_epoch,
        "epoch_s": res.epoch_s,
        "wall_s": time.perf_counter() - t0,
        "device": device_name(cfg.device),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    log.info(
        "%s / %s: SE MAE %.4f eV/Å², WF MAE %.3f eV",
        recipe,
        split,
        result["test"]["surface_energy"]["mae"],
        result["test"]["work_function"]["mae"],
    )
    return result


def main(
    recipes: Annotated[
        str,
        typer.Option(help="Comma list of mg, mg+desc, joint, joint+desc, joint+desc+mp, joint+desc+mp+G."),
    ] = "mg,mg+desc,joint,joint+desc",
    splits: Annotated[
        str,
        typer.Option(
            help="Comma list of grouped (whole Mg–X systems held out), random, and grouped-randval "
            "(grouped test systems, random validation rows: the shipped model's selection)."
        ),
    ] = "grouped",
    epochs: Annotated[int, typer.Option(help="Epochs per model (paper: 150).")] = 30,
    lr_drop_epoch: Annotated[
        int, typer.Option(help="Epoch of the ×0.1 learning-rate drop (paper: 100).")
    ] = 22,
    seed: Annotated[int, typer.Option(help="Split and initialisation seed.")] = 0,
    threads: Annotated[
        int, typer.Option(help="torch threads (0: all cores); one per process when several run.")
    ] = 0,
    device: Annotated[
        str, typer.Option(help="torch device of the training loop: cpu, or cuda on a GPU machine.")
    ] = "cpu",
    graphs: Annotated[
        str,
        typer.Option(
            help="Training bundle from `semcgcnn bundle` instead of the datasets "
            "(for a machine without pymatgen or the graph cache)."
        ),
    ] = "",
    batch_size: Annotated[int, typer.Option(help="Slabs per training step (paper: 64).")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate (paper: 1e-3).")] = 1e-3,
    hidden: Annotated[int, typer.Option(help="Width of the heads' hidden layers (CGCNN: 128).")] = 128,
    surface_depth: Annotated[
        float, typer.Option(help="Å from either surface flagged as surface (paper: 2).")
    ] = GraphConfig().surface_depth,
    surface_pool: Annotated[
        bool, typer.Option(help="Heads also read the mean over surface atoms (not in the paper).")
    ] = False,
    readout: Annotated[
        str,
        typer.Option(
            help="paper (the paper's mean pooling) or surface (thickness-invariant; tag -rosurface)."
        ),
    ] = "paper",
    results_dir: Annotated[
        Path, typer.Option(help="Per-experiment result JSON (committed; done ones are skipped).")
    ] = REPO / "reports/shipped_runs",
    runs_dir: Annotated[Path, typer.Option(help="Epoch checkpoints, so an interrupted run resumes.")] = REPO
    / "runs/generalise",
    report: Annotated[str, typer.Option(help="Markdown report of all results so far ('' to skip).")] = str(
        REPO / "reports/shipped_model.md"
    ),
    table1_results: Annotated[
        Path, typer.Option(help="Table 1 cells (its `sem` cells are the `mg` recipe).")
    ] = REPO / "reports/table1_runs",
    paper_schedule: Annotated[
        Path,
        typer.Option(help="Cards of full-schedule `semcgcnn train` runs (the `mg` recipe at 150 epochs)."),
    ] = REPO / "reports/paper_schedule",
    card: Annotated[
        Path, typer.Option(help="The shipped model's card, described at the top of the report.")
    ] = SHIPPED_CARD,
) -> None:
    """Measure each generalisation choice on the grouped split (the figure screening needs);
    finished experiments are skipped; then the report is rewritten from every result so far."""
    from semcgcnn.cli.common import console, csv_items, fail, training_setup

    recipe_list = csv_items(recipes)
    split_list = csv_items(splits)
    bad = [r for r in recipe_list if r not in RECIPES] + [
        s for s in split_list if s not in ("grouped", "random", "grouped-randval")
    ]
    if bad or epochs < 1:
        raise fail(f"unknown recipe/split {bad} (recipes: {', '.join(RECIPES)}) or epochs < 1")
    if batch_size < 2 or lr <= 0 or hidden < 1 or surface_depth < 0 or readout not in READOUTS:
        raise fail(
            f"need --batch-size ≥ 2, --lr > 0, --hidden ≥ 1, --surface-depth ≥ 0 and --readout in {READOUTS}"
        )
    cfg, bundle = training_setup(
        graphs,
        epochs=epochs,
        lr_drop_epoch=lr_drop_epoch,
        seed=seed,
        threads=threads,
        device=device,
        batch_size=batch_size,
        lr=lr,
    )
    gcfg = GraphConfig(surface_depth=surface_depth)
    for split in split_list:
        for recipe in recipe_list:
            try:
                r = run_experiment(
                    recipe,
                    split,
                    cfg,
                    results_dir,
                    runs_dir,
                    graph_config=gcfg,
                    bundle=bundle,
                    model_overrides={"h_fea_len": hidden, "surface_pool": surface_pool, "readout": readout},
                )
            except ValueError as e:  # e.g. a bundle built for another surface depth
                raise fail(str(e)) from None
            console.print(
                f"{recipe:>11} / {split}: SE MAE {r['test']['surface_energy']['mae']:.4f} eV/Å², "
                f"WF MAE {r['test']['work_function']['mae']:.3f} eV"
            )
    if report:
        from shipped_report import write_shipped_report

        path = write_shipped_report(results_dir, table1_results, card, Path(report), paper_schedule)
        console.print(f"report: {path}")


if __name__ == "__main__":
    from table1 import setup_logging

    setup_logging()
    typer.run(main)
