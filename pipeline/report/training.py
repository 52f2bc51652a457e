"""The report of trained models (``semcgcnn report --training CARD_OR_DIR``): per checkpoint card,
parity plots per task on its held-out test rows (recovered from the card's recipe, split and seed,
as ``studies/ensemble.py`` does) and its learning curves (the card's ``history``, or the training
run's ``last_epoch.pt`` found under ``runs`` by the card's ``exported_from.run``)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from semcgcnn.errors import UserError
from semcgcnn.pipeline.screen.results import has_table
from semcgcnn.units import UNITS

from . import figures
from .html import Section, page

log = logging.getLogger(__name__)


class ReportError(UserError):
    """A report target that is neither a checkpoint card nor a folder of them (one line)."""


def find_cards(path: Path) -> list[Path]:
    """Checkpoint cards: the file itself, or every single-model card (not an ensemble's) in a folder."""
    path = Path(path)
    if path.is_file() and path.suffix == ".json":
        cards = [path]
    elif path.is_dir():
        cards = sorted(p for p in path.glob("*.json") if p.with_suffix(".safetensors").is_file())
    else:
        raise ReportError(f"{path}: neither a checkpoint card (.json) nor a folder of them")
    if not cards:
        raise ReportError(f"{path}: no checkpoint cards (NAME.json next to NAME.safetensors)")
    return cards


def is_training_target(path: Path) -> bool:
    """Whether ``path`` is a card or a folder of cards rather than a screen folder."""
    path = Path(path)
    if path.is_dir() and has_table(path, "wulff"):
        return False
    try:
        return bool(find_cards(path))
    except ReportError:
        return False


def history_of(card_path: Path, card: dict, runs: Path | None) -> tuple[list[dict], str]:
    """(per-epoch history, where it came from): the card's ``history``, else ``NAME.history.json``
    beside the card, else ``last_epoch.pt`` of the run it was exported from under ``runs``; empty
    when none has one."""
    if card.get("history"):
        return card["history"], "the card's history"
    beside = card_path.with_name(f"{card_path.stem}.history.json")
    if beside.is_file():
        doc = json.loads(beside.read_text())
        if doc.get("model_id", card.get("model_id")) == card.get("model_id"):
            return doc["history"], f"{beside.name} ({doc.get('source', 'beside the card')})"
    run = (card.get("exported_from") or {}).get("run")
    if runs is not None and run:
        f = Path(runs) / run / "last_epoch.pt"
        if f.is_file():
            import torch

            blob = torch.load(f, weights_only=True, map_location="cpu")
            return list(blob.get("history", [])), f"{f}"
    return [], "no per-epoch history stored in this card" + (
        f" (export of run {run}; pass --runs to find it)" if run else ""
    )


def test_predictions(stem: Path, card: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(DFT targets, predictions) on the card's test rows, or None when it has no test split."""
    from semcgcnn.model.checkpoint import load_checkpoint
    from semcgcnn.model.inference import predict_members
    from semcgcnn.model.training.recipes import RECIPES, split_rows

    tc = card.get("train_config", {})
    recipe = RECIPES.get(card.get("recipe", ""))
    if recipe is None or tc.get("split") not in ("grouped", "random"):
        return None
    ck = load_checkpoint(stem)
    data, frame = _tensors(
        recipe.datasets, recipe.descriptors, json.dumps(card["graph_config"], sort_keys=True)
    )
    te = split_rows(frame, tc["split"], int(tc.get("seed", 0)))[2]
    pred = predict_members([ck.model], [ck.normalizer], data, te)[0]
    return data.y.double().numpy()[te], pred


def test_metrics(y: np.ndarray, p: np.ndarray, tasks: list[str], card: dict) -> pd.DataFrame:
    """Per task: rows, MAE and RMSE on the recovered test rows, and the MAE the card recorded."""
    rows = []
    for k, t in enumerate(tasks):
        ok = np.isfinite(y[:, k]) & np.isfinite(p[:, k])
        e = p[ok, k] - y[ok, k]
        rec = card.get("metrics", {}).get("test", {}).get(t, {})
        rows.append(
            {
                "task": t,
                "unit": UNITS.get(t, ""),
                "n_test": int(ok.sum()),
                "MAE": float(np.abs(e).mean()),
                "RMSE": float(np.sqrt((e**2).mean())),
                "MAE_on_card": float(rec.get("mae", np.nan)),
            }
        )
    return pd.DataFrame(rows)


_TENSORS: dict = {}


def _tensors(datasets: Sequence[str], descriptors: str, graph_json: str):
    """Graph tensors of a recipe's data, loaded once per report (both splits share them)."""
    from semcgcnn.model.config import GraphConfig
    from semcgcnn.model.training.data import load_slab_tensors

    key = (tuple(datasets), descriptors, graph_json)
    if key not in _TENSORS:
        _TENSORS.clear()
        _TENSORS[key] = load_slab_tensors(
            tuple(datasets), GraphConfig(**json.loads(graph_json)), descriptors=descriptors
        )
    return _TENSORS[key]


def card_section(card_path: Path, runs: Path | None) -> Section:
    card = json.loads(card_path.read_text())
    tc = card.get("train_config", {})
    sec = Section(f"model-{card_path.stem}", f"{card_path.stem} ({card.get('model_id', '?')})")
    sec.text(
        f"recipe {card.get('recipe', '?')}, split {tc.get('split', '?')} seed {tc.get('seed', '?')}, "
        f"{tc.get('epochs', '?')} epochs, best epoch {card.get('best_epoch', '?')}, trained on "
        f"{card.get('trained_on', '?')}; train/val/test rows "
        f"{card.get('training_data', {}).get('n_train_val_test', '?')}."
    )
    yp = test_predictions(card_path.with_suffix(""), card)
    if yp is None:
        sec.text("No held-out test rows (this model was trained on every row): no parity plot.")
    else:
        y, p = yp
        tasks = [t["name"] for t in card["tasks"]]
        sec.image(
            figures.parity(
                [
                    (y[:, k], p[:, k], f"{t} (test rows, {tc['split']} split)", UNITS.get(t, ""))
                    for k, t in enumerate(tasks)
                ]
            ),
            "parity",
        )
        sec.table(test_metrics(y, p, tasks, card), left=["task", "unit"])
    hist, where = history_of(card_path, card, runs)
    if hist:
        sec.image(figures.learning_curves(hist, card_path.stem), "learning curves").text(
            f"Learning curves from {where}."
        )
    else:
        sec.text(f"Learning curves: {where}.")
    return sec


def build_training_report(path: Path, runs: Path | None = None) -> str:
    """The whole HTML document for the cards at ``path``."""
    cards = find_cards(path)
    sections = [card_section(c, runs) for c in cards]
    return page(
        f"sem-cgcnn training report: {Path(path).name}",
        f"{len(cards)} checkpoint card(s) from {path}: parity on each model's held-out test rows, "
        "learning curves where a history is stored.",
        sections,
    )
