"""Safe checkpoints: weights as safetensors plus a JSON card with everything needed to predict.

Nothing is ever unpickled: ``load_checkpoint`` reads tensors with safetensors and the rest
from JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from semcgcnn.errors import UserError

from .atom_features import atom_table_hash
from .config import GraphConfig, ModelConfig, TrainConfig
from .descriptors import N_Z
from .inference import Normalizer
from .network import SEMCGCNN

FORMAT = "sem-cgcnn-checkpoint/1"

SHIPPED_MODEL = Path(__file__).resolve().parent / "weights" / "semcgcnn-mg"
"""The shipped model's checkpoint stem (``.safetensors`` + ``.json``), loaded by default."""
SHIPPED_ENSEMBLE = SHIPPED_MODEL.with_name("semcgcnn-mg-ensemble.json")
"""The shipped ensemble's card (members next to it), loaded by default when present."""


class CheckpointError(UserError):
    """A checkpoint that is missing, malformed, incompatible or not what its card says."""


def model_id_for(weights_sha256: str) -> str:
    """The model id of a checkpoint: derived from the SHA-256 of its weight file, so an id in an
    output table names the weights that made it (:func:`load_checkpoint` verifies both)."""
    return f"semcgcnn-{weights_sha256[:12]}"


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
        "model_id": model_id_for(digest),
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
MAX_NEIGHBORS = 64
"""graph_config.max_neighbors above this is refused (the paper: 12; each neighbour is a column of
every edge tensor, so 10**9 would ask for tens of GiB)."""
MAX_LENGTH_A = 20.0
"""graph_config lengths (radius, Gaussian grid, surface depth, vacuum, search radius) above this (Å)
are refused (the paper: radius 12 Å)."""
MIN_GAUSSIAN_STEP_A = 0.01
"""A finer Gaussian grid is refused (the paper: 0.2 Å; the step also sets the number of features)."""
MAX_CARD_BYTES = 16 * 2**20
"""A checkpoint or ensemble card larger than this is refused before it is parsed (the shipped: 18 kB)."""
WEIGHT_HEADER_BYTES = 16 * 2**20
"""Room for the safetensors header when bounding a weight file's size by the card's model."""
CARD_KEYS = (
    "format",
    "model_id",
    "weights_sha256",
    "model_config",
    "graph_config",
    "normalizer",
    "atom_table_sha256_16",
)
_INT_FIELDS = {
    "atom_fea_len": (1, MAX_WIDTH),
    "n_conv": (1, MAX_DEPTH),
    "h_fea_len": (1, MAX_WIDTH),
    "n_hidden": (1, MAX_DEPTH),
    "n_atom_features": (1, MAX_WIDTH),
    "n_gaussians": (1, MAX_WIDTH),
    "n_descriptors": (0, MAX_WIDTH),
}
_BOOL_FIELDS = ("surface_flag", "surface_pool")
_GRAPH_LENGTHS = {  # field: (lowest, highest, whether the lowest itself is allowed), Å
    "radius": (0.0, MAX_LENGTH_A, False),
    "gaussian_dmin": (0.0, MAX_LENGTH_A, True),
    "gaussian_step": (MIN_GAUSSIAN_STEP_A, MAX_LENGTH_A, True),
    "gaussian_dmax": (0.0, MAX_LENGTH_A, False),
    "surface_depth": (0.0, MAX_LENGTH_A, True),
    "min_vacuum": (0.0, MAX_LENGTH_A, True),
    "search_radius": (0.0, MAX_LENGTH_A, False),
}


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
    return _fail(
        path, f"folder holds {len(pairs)} checkpoints ({', '.join(pairs)}): name one, e.g. {path / pairs[0]}"
    )


def _fail(path: Path, problem: str) -> NoReturn:
    raise CheckpointError(f"{path}: {problem}")


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (safetensors + JSON, no pickle).

    ``path`` is anything :func:`resolve_checkpoint` takes. Before the model is built, the card is
    checked (an object with the required keys, every field that sizes or drives the model within
    range, a ``model_id`` derived from its ``weights_sha256``) and every weight tensor's shape is
    compared with the shapes the card implies, from the safetensors header; then the weight file
    must hash to ``weights_sha256`` and hold finite numbers only. Any problem is a one-line
    :class:`CheckpointError` naming the file and the problem."""
    wpath, jpath = _paths(resolve_checkpoint(path))
    if not wpath.exists() or not jpath.exists():
        raise CheckpointError(f"checkpoint needs both {wpath.name} and {jpath.name} in {wpath.parent}")
    card = read_card(jpath, "checkpoint")
    cfg, graph_config, normalizer = _check_card(jpath, card)
    expected = _expected_shapes(jpath, cfg)
    _check_weights(wpath, expected)
    state = _verified_weights(wpath, card["weights_sha256"], expected)
    model = SEMCGCNN(cfg)
    try:
        model.load_state_dict(state)
    except Exception as e:  # noqa: BLE001 - report any malformed weight file as one clear error
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{wpath}: weights do not load into the card's model ({msg})") from None
    model.eval()
    return Checkpoint(model, graph_config, normalizer, card)


def read_card(jpath: Path, kind: str) -> dict:
    """The JSON object in card ``jpath`` (``kind``: what it should be, for the message), or a
    one-line :class:`CheckpointError`; a card over :data:`MAX_CARD_BYTES` is not read."""
    size = jpath.stat().st_size
    if size > MAX_CARD_BYTES:
        _fail(jpath, f"{kind} card is {size:,} bytes, over the {MAX_CARD_BYTES:,} this loader accepts")
    try:
        card = json.loads(jpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{jpath}: not a JSON {kind} card ({e})") from None
    if not isinstance(card, dict):
        _fail(jpath, f"{kind} card is a JSON {type(card).__name__}, not an object")
    return card


def _verified_weights(wpath: Path, weights_sha256: str, expected: dict[str, tuple[int, ...]]) -> dict:
    """The weight tensors of ``wpath``, read once: the bytes must hash to ``weights_sha256`` (the
    card's) and every floating-point tensor must be finite."""
    import torch
    from safetensors.torch import load

    limit = 8 * sum(int(np.prod(s)) for s in expected.values()) + WEIGHT_HEADER_BYTES
    size = wpath.stat().st_size
    if size > limit:
        _fail(wpath, f"weight file is {size:,} bytes, more than the card's model can need ({limit:,})")
    data = wpath.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != weights_sha256:
        _fail(
            wpath,
            f"weights do not match the card's weights_sha256 ({weights_sha256[:16]}…, the file "
            f"hashes to {digest[:16]}…): the weights were changed after the card was written",
        )
    try:
        state = load(data)
    except Exception as e:  # noqa: BLE001 - a file whose header read but whose tensors do not
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        _fail(wpath, f"not a readable safetensors file ({msg})")
    for key, tensor in state.items():
        if tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                _fail(
                    wpath,
                    f"weight tensor {key} holds {bad} non-finite value{'s' if bad != 1 else ''} "
                    "(inf or NaN): no trained model has them",
                )
    return state


def _check_card(jpath: Path, card: object) -> tuple[ModelConfig, GraphConfig, Normalizer]:
    """The card's model config, graph config and normalizer, or a one-line :class:`CheckpointError`."""
    from semcgcnn.datasets import TARGETS

    if not isinstance(card, dict):
        _fail(jpath, f"checkpoint card is a JSON {type(card).__name__}, not an object")
    if card.get("format") != FORMAT:
        _fail(jpath, f"unknown checkpoint format {card.get('format')!r} (expected {FORMAT!r})")
    missing = [k for k in CARD_KEYS if k not in card]
    if missing:
        _fail(jpath, f"checkpoint card lacks {', '.join(missing)}")
    _check_model_id(jpath, card["model_id"], card["weights_sha256"])
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
        _fail(
            jpath, f"model_config.tasks: unknown task(s) {', '.join(unknown)} (known: {', '.join(TARGETS)})"
        )
    try:
        cfg = ModelConfig.from_dict(mc)
    except (TypeError, ValueError) as e:  # e.g. an unknown readout
        _fail(jpath, f"model_config is malformed ({e})")
    if not isinstance(card["graph_config"], dict):
        _fail(jpath, "graph_config is not an object")
    _check_graph_config(jpath, card["graph_config"])
    try:
        graph_config = GraphConfig.from_dict(card["graph_config"])
        n_gaussians = graph_config.n_gaussians
    except (TypeError, ValueError, ZeroDivisionError) as e:
        _fail(jpath, f"graph_config is malformed ({e})")
    if n_gaussians != cfg.n_gaussians:
        _fail(
            jpath,
            f"graph_config gives {n_gaussians} Gaussian distance features but model_config.n_gaussians "
            f"is {cfg.n_gaussians}",
        )
    norm = card["normalizer"]
    if not (
        isinstance(norm, dict)
        and all(
            isinstance(norm.get(k), list)
            and len(norm[k]) == len(cfg.tasks)
            and all(isinstance(x, (int, float)) for x in norm[k])
            for k in ("mean", "std")
        )
    ):
        _fail(
            jpath, f"normalizer must hold 'mean' and 'std' lists of {len(cfg.tasks)} numbers (one per task)"
        )
    if not all(math.isfinite(x) for x in norm["mean"]):
        _fail(jpath, "normalizer 'mean' must be finite numbers")
    if not all(math.isfinite(x) and x > 0 for x in norm["std"]):
        _fail(jpath, "normalizer 'std' must be finite positive numbers")
    _check_card_extras(jpath, card, cfg)
    return cfg, graph_config, Normalizer.from_dict(norm)


def _check_model_id(jpath: Path, model_id: object, weights_sha256: object) -> None:
    """``weights_sha256`` must be a SHA-256 hex digest and ``model_id`` the id derived from it."""
    if not (
        isinstance(weights_sha256, str)
        and len(weights_sha256) == 64
        and all(c in "0123456789abcdef" for c in weights_sha256)
    ):
        _fail(jpath, "weights_sha256 must be the 64 lower-case hex digits of a SHA-256")
    if not isinstance(model_id, str):
        _fail(jpath, f"model_id must be a string, not {model_id!r}")
    if model_id != model_id_for(weights_sha256):
        _fail(
            jpath,
            f"model_id {model_id!r} is not the id of its weights_sha256 "
            f"(expected {model_id_for(weights_sha256)!r})",
        )


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_graph_config(jpath: Path, gc: dict) -> None:
    """Every graph_config field a number in its range (:data:`MAX_NEIGHBORS`, :data:`MAX_LENGTH_A`)."""
    if "max_neighbors" in gc:
        v = gc["max_neighbors"]
        if not isinstance(v, int) or isinstance(v, bool):
            _fail(jpath, f"graph_config.max_neighbors must be an integer, not {v!r}")
        if not 1 <= v <= MAX_NEIGHBORS:
            _fail(jpath, f"graph_config.max_neighbors = {v} is out of range (1..{MAX_NEIGHBORS})")
    for key, (lo, hi, lo_ok) in _GRAPH_LENGTHS.items():
        v = gc.get(key)
        if key not in gc or (key == "gaussian_dmax" and v is None):
            continue
        if not _is_number(v):
            _fail(jpath, f"graph_config.{key} must be a number, not {v!r}")
        if not (math.isfinite(v) and (lo <= v if lo_ok else lo < v) and v <= hi):
            _fail(jpath, f"graph_config.{key} = {v:g} is out of range ({lo:g}..{hi:g} Å)")


def _check_card_extras(jpath: Path, card: dict, cfg: ModelConfig) -> None:
    """The fields beside the configs that prediction or training reads: the element-descriptor
    table (:data:`N_Z` rows of ``n_descriptors`` finite numbers, present exactly when
    the model reads descriptors), ``training_elements`` (element symbols) and ``train_config``."""
    from pymatgen.core import Element

    desc, n = card.get("element_descriptors"), cfg.n_descriptors
    if n and not desc:
        _fail(jpath, f"model_config.n_descriptors is {n} but the card has no element_descriptors")
    if desc and not n:
        _fail(jpath, "the card has element_descriptors but model_config.n_descriptors is 0")
    if desc:
        table = desc.get("table") if isinstance(desc, dict) else None
        rows_ok = (
            isinstance(table, list)
            and len(table) == N_Z
            and all(
                isinstance(row, list)
                and len(row) == n
                and all(_is_number(x) and math.isfinite(x) for x in row)
                for row in table
            )
        )
        if not rows_ok:
            _fail(jpath, f"element_descriptors.table must be {N_Z} rows of {n} finite numbers")
    elements = card.get("training_elements", [])
    if not (
        isinstance(elements, list)
        and all(isinstance(e, str) and Element.is_valid_symbol(e) for e in elements)
    ):
        _fail(jpath, "training_elements must be a list of element symbols")
    if not isinstance(card.get("train_config"), (dict, type(None))):
        _fail(jpath, "train_config must be an object or null")


def _expected_shapes(jpath: Path, cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every weight tensor's shape as the card implies it, from a model built on the ``meta``
    device (no memory), refusing a card that implies more than :data:`MAX_PARAMETERS` weights."""
    import torch

    with torch.device("meta"):
        meta = SEMCGCNN(cfg)
    shapes = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    n = sum(int(np.prod(s)) for s in shapes.values())
    if n > MAX_PARAMETERS:
        _fail(
            jpath,
            f"model_config implies {n:,} weights, over the {MAX_PARAMETERS:,} this loader accepts "
            "(is a layer size mistyped?)",
        )
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
        parts.append(
            f"{k} is {list(found[k])} in the weights but {list(expected[k])} by the card"
            + (f" ({len(wrong) - 1} more tensors differ)" if len(wrong) > 1 else "")
        )
    if missing:
        parts.append(f"{len(missing)} tensor(s) the card needs are missing, e.g. {missing[0]}")
    if extra:
        parts.append(f"{len(extra)} tensor(s) the card does not describe, e.g. {extra[0]}")
    _fail(wpath, f"weights do not match the model card's model_config: {'; '.join(parts)}")


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")
