"""Safe checkpoints: weights as safetensors plus a JSON card with everything needed to predict.

Nothing is ever unpickled: ``load_checkpoint`` reads tensors with safetensors and the rest
from JSON.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atom_features import atom_table_hash
from .config import GraphConfig, ModelConfig, TrainConfig
from .network import SEMCGCNN
from .inference import Normalizer

FORMAT = "sem-cgcnn-checkpoint/1"

SHIPPED_MODEL = Path(__file__).resolve().parent / "weights" / "semcgcnn-mg"
"""The shipped model's checkpoint stem (``.safetensors`` + ``.json``), loaded by default."""


class CheckpointError(ValueError):
    """A checkpoint that is missing, malformed or incompatible."""


@dataclass
class Checkpoint:
    model: SEMCGCNN
    graph_config: GraphConfig
    normalizer: Normalizer
    card: dict  # the whole JSON card

    @property
    def model_id(self) -> str:
        return self.card["model_id"]

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.model.cfg.tasks


def _paths(path: Path) -> tuple[Path, Path]:
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(
    path: Path,
    model: SEMCGCNN,
    graph_config: GraphConfig,
    normalizer: Normalizer,
    train_config: TrainConfig | None = None,
    training_data: dict | None = None,
    metrics: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write ``<path>.safetensors`` and ``<path>.json``; return the JSON path."""
    from safetensors.torch import save_file

    from semcgcnn import __version__
    from semcgcnn.datasets import TARGETS

    wpath, jpath = _paths(path)
    wpath.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(wpath))
    digest = hashlib.sha256(wpath.read_bytes()).hexdigest()
    card = {
        "format": FORMAT,
        "model_id": f"semcgcnn-{digest[:12]}",
        "weights_sha256": digest,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "package_version": __version__,
        "tasks": [{"name": t, "unit": TARGETS[t].unit, "column": TARGETS[t].column} for t in model.cfg.tasks],
        "graph_config": graph_config.to_dict(),
        "model_config": model.cfg.to_dict(),
        "atom_table_sha256_16": atom_table_hash(),
        "normalizer": normalizer.to_dict(),
        "train_config": train_config.to_dict() if train_config else None,
        "training_data": training_data or {},
        "metrics": metrics or {},
        **(extra or {}),
    }
    jpath.write_text(json.dumps(card, indent=2, default=_json_default) + "\n")
    return jpath


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (safetensors + JSON, no pickle)."""
    from safetensors.torch import load_file

    wpath, jpath = _paths(path)
    if not wpath.exists() or not jpath.exists():
        raise CheckpointError(f"checkpoint needs both {wpath.name} and {jpath.name} in {wpath.parent}")
    try:
        card = json.loads(jpath.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{jpath}: not a JSON checkpoint card ({e})") from None
    if card.get("format") != FORMAT:
        raise CheckpointError(f"{jpath}: unknown checkpoint format {card.get('format')!r}")
    if card["atom_table_sha256_16"] != atom_table_hash():
        raise CheckpointError(f"{jpath}: trained with a different atom_init.json")
    model = SEMCGCNN(ModelConfig.from_dict(card["model_config"]))
    try:
        model.load_state_dict(load_file(str(wpath)))
    except Exception as e:  # noqa: BLE001 - report any malformed weight file as one clear error
        raise CheckpointError(f"{wpath}: weights do not match the model card ({e})") from None
    model.eval()
    return Checkpoint(model, GraphConfig.from_dict(card["graph_config"]), Normalizer.from_dict(card["normalizer"]), card)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")
