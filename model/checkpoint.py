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
from typing import NoReturn

import numpy as np

from semcgcnn.errors import UserError

from .atom_features import atom_table_hash
from .config import GraphConfig, ModelConfig, TrainConfig
from .network import SEMCGCNN
from .inference import Normalizer

FORMAT = "sem-cgcnn-checkpoint/1"

SHIPPED_MODEL = Path(__file__).resolve().parent / "weights" / "semcgcnn-mg"
"""The shipped model's checkpoint stem (``.safetensors`` + ``.json``), loaded by default."""
SHIPPED_ENSEMBLE = SHIPPED_MODEL.with_name("semcgcnn-mg-ensemble.json")
"""The shipped ensemble's card (members next to it), loaded by default when present."""


class CheckpointError(UserError):
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

    @property
    def descriptor_table(self) -> np.ndarray | None:
        """The element-descriptor table the model was trained with (appended to atom features), if any."""
        desc = self.card.get("element_descriptors")
        return np.asarray(desc["table"], dtype=np.float32) if desc else None


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


MAX_PARAMETERS = 50_000_000
"""A card implying more weights than this is refused before anything is allocated (the shipped
model has about 0.2 M; a typo such as atom_fea_len 10**6 would ask for terabytes)."""
MAX_WIDTH = 8192  # atom_fea_len, h_fea_len, n_gaussians, feature columns
MAX_DEPTH = 64  # n_conv, n_hidden
CARD_KEYS = ("format", "model_id", "model_config", "graph_config", "normalizer", "atom_table_sha256_16")
_INT_FIELDS = {"atom_fea_len": (1, MAX_WIDTH), "n_conv": (1, MAX_DEPTH), "h_fea_len": (1, MAX_WIDTH),
               "n_hidden": (1, MAX_DEPTH), "n_atom_features": (1, MAX_WIDTH), "n_gaussians": (1, MAX_WIDTH),
               "n_descriptors": (0, MAX_WIDTH)}
_BOOL_FIELDS = ("surface_flag", "surface_pool")


def resolve_checkpoint(path: Path) -> Path:
    """The checkpoint stem ``path`` names: ``NAME``, ``NAME.json`` or ``NAME.safetensors``, or a
    folder holding exactly one ``NAME.json`` + ``NAME.safetensors`` pair (what ``--model`` takes)."""
    path = Path(path)
    if not path.is_dir():
        return _paths(path)[0].with_suffix("")
    cards = {p.stem for p in path.glob("*.json")}
    pairs = sorted(stem for stem in cards if (path / f"{stem}.safetensors").is_file())
    if len(pairs) == 1:
        return path / pairs[0]
    if not pairs:
        return _fail(path, "folder holds no checkpoint (a NAME.json card next to NAME.safetensors weights)")
    return _fail(path, f"folder holds {len(pairs)} checkpoints ({', '.join(pairs)}): name one, e.g. {path / pairs[0]}")


def _fail(path: Path, problem: str) -> NoReturn:
    raise CheckpointError(f"{path}: {problem}")


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (safetensors + JSON, no pickle).

    ``path`` is anything :func:`resolve_checkpoint` takes. The card is checked (an object with
    the required keys and a sane ``model_config``) and every weight tensor's shape is compared with
    the shapes the card implies, from the safetensors header, before the model is built: any
    mismatch is a one-line :class:`CheckpointError` naming the file and the problem."""
    from safetensors.torch import load_file

    wpath, jpath = _paths(resolve_checkpoint(path))
    if not wpath.exists() or not jpath.exists():
        raise CheckpointError(f"checkpoint needs both {wpath.name} and {jpath.name} in {wpath.parent}")
    try:
        card = json.loads(jpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{jpath}: not a JSON checkpoint card ({e})") from None
    cfg, graph_config, normalizer = _check_card(jpath, card)
    expected = _expected_shapes(jpath, cfg)
    _check_weights(wpath, expected)
    model = SEMCGCNN(cfg)
    try:
        model.load_state_dict(load_file(str(wpath)))
    except Exception as e:  # noqa: BLE001 - report any malformed weight file as one clear error
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{wpath}: weights do not load into the card's model ({msg})") from None
    model.eval()
    return Checkpoint(model, graph_config, normalizer, card)


def _check_card(jpath: Path, card) -> tuple[ModelConfig, GraphConfig, Normalizer]:
    """The card's model config, graph config and normalizer, or a one-line :class:`CheckpointError`."""
    from semcgcnn.datasets import TARGETS

    if not isinstance(card, dict):
        _fail(jpath, f"checkpoint card is a JSON {type(card).__name__}, not an object")
    if card.get("format") != FORMAT:
        _fail(jpath, f"unknown checkpoint format {card.get('format')!r} (expected {FORMAT!r})")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        _fail(jpath, f"checkpoint card lacks {', '.join(missing)}")
    if card["atom_table_sha256_16"] != atom_table_hash():
        _fail(jpath, "trained with a different atom_init.json")
    mc = card["model_config"]
    if not isinstance(mc, dict):
        _fail(jpath, "model_config is not an object")
    for key, (lo, hi) in _INT_FIELDS.items():
        v = mc.get(key)
        if key in mc and (not isinstance(v, int) or isinstance(v, bool)):
            _fail(jpath, f"model_config.{key} must be an integer, not {v!r}")
        if key in mc and not lo <= v <= hi:
            _fail(jpath, f"model_config.{key} = {v} is out of range ({lo}..{hi})")
    for key in _BOOL_FIELDS:
        if key in mc and not isinstance(mc[key], bool):
            _fail(jpath, f"model_config.{key} must be true or false, not {mc[key]!r}")
    tasks = mc.get("tasks", list(ModelConfig.tasks))
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) for t in tasks):
        _fail(jpath, "model_config.tasks must be a non-empty list of task names")
    unknown = [t for t in tasks if t not in TARGETS]
    if unknown:
        _fail(jpath, f"model_config.tasks: unknown task(s) {', '.join(unknown)} (known: {', '.join(TARGETS)})")
    try:
        cfg = ModelConfig.from_dict(mc)
    except (TypeError, ValueError) as e:  # e.g. an unknown readout
        _fail(jpath, f"model_config is malformed ({e})")
    if not isinstance(card["graph_config"], dict):
        _fail(jpath, "graph_config is not an object")
    try:
        graph_config = GraphConfig.from_dict(card["graph_config"])
        n_gaussians = graph_config.n_gaussians
    except (TypeError, ValueError, ZeroDivisionError) as e:
        _fail(jpath, f"graph_config is malformed ({e})")
    if n_gaussians != cfg.n_gaussians:
        _fail(jpath, f"graph_config gives {n_gaussians} Gaussian distance features but model_config.n_gaussians "
                     f"is {cfg.n_gaussians}")
    norm = card["normalizer"]
    if not (isinstance(norm, dict) and all(isinstance(norm.get(k), list) and len(norm[k]) == len(cfg.tasks)
                                           and all(isinstance(x, (int, float)) for x in norm[k]) for k in ("mean", "std"))):
        _fail(jpath, f"normalizer must hold 'mean' and 'std' lists of {len(cfg.tasks)} numbers (one per task)")
    return cfg, graph_config, Normalizer.from_dict(norm)


def _expected_shapes(jpath: Path, cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight tensor's shape as the card implies it, from a model built on the ``meta``
    device (no memory), refusing a card that implies more than :data:`MAX_PARAMETERS` weights."""
    import torch

    with torch.device("meta"):
        meta = SEMCGCNN(cfg)
    shapes = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    n = sum(int(np.prod(s)) for s in shapes.values())
    if n > MAX_PARAMETERS:
        _fail(jpath, f"model_config implies {n:,} weights, over the {MAX_PARAMETERS:,} this loader accepts "
                     "(is a layer size mistyped?)")
    return shapes


def _check_weights(wpath: Path, expected: dict[str, tuple[int, ...]]) -> None:
    """Compare the weight file's tensor names and shapes (safetensors header only) with ``expected``."""
    from safetensors import safe_open

    try:
        with safe_open(str(wpath), framework="pt") as f:
            found = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        _fail(wpath, f"not a readable safetensors file ({msg})")
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    wrong = [k for k in expected if k in found and found[k] != expected[k]]
    if not (missing or extra or wrong):
        return
    parts = []
    if wrong:
        k = wrong[0]
        parts.append(f"{k} is {list(found[k])} in the weights but {list(expected[k])} by the card"
                     + (f" ({len(wrong) - 1} more tensors differ)" if len(wrong) > 1 else ""))
    if missing:
        parts.append(f"{len(missing)} tensor(s) the card needs are missing, e.g. {missing[0]}")
    if extra:
        parts.append(f"{len(extra)} tensor(s) the card does not describe, e.g. {extra[0]}")
    _fail(wpath, f"weights do not match the model card's model_config: {'; '.join(parts)}")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")
