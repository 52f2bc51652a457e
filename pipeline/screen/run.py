"""The screening run: candidates → slabs → predictions → Wulff → Parquet tables, resumable.

A short orchestrator over the pure stages (:mod:`.candidates`, :mod:`.slabs`, :mod:`.batch`)
and the part store (:mod:`.store`): slabs are cut in a process pool, one compound per task,
largest cells first; finished compounds are collected into batches, and each batch is
predicted, Wulff-constructed and committed as one part. ``resume=True`` skips committed
compounds; the final tables are assembled from the parts in candidate order.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from semcgcnn.errors import UserError
from semcgcnn.parallel import as_completed_map, n_workers
from semcgcnn.paths import check_output_dir, disk_full_error, is_disk_full
from semcgcnn.pipeline.slabs import SlabConfig, SlabResult, compound_slabs
from semcgcnn.progress import QUIET, Bars
from semcgcnn.schema import provenance

from .batch import screen_batch
from .candidates import Candidate, CandidateSet, screen_candidates
from .config import BATCH_SIZE, ScreenConfig
from .results import MANIFEST
from .store import PartStore, RunLock

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from semcgcnn.model.predict import Predictor

    from .mlip_prior import PriorPredictor

log = logging.getLogger(__name__)


class ScreenError(UserError):
    """A screen that cannot run as asked: no candidate left, a folder holding another screen, a
    model that cannot be loaded (one line)."""


@dataclass
class ScreenSummary:
    out: Path
    n_candidates: int
    n_compounds: int
    n_slabs: int
    n_errors: int
    stage_seconds: dict[str, float]
    tables: dict[str, Path]


def slab_error(compound_id: str, reason: str) -> SlabResult:
    """The slab stage's outcome for a compound that failed: no slabs, one error row."""
    return SlabResult(compound_id, errors=[{"stage": "slabs", "id": compound_id, "reason": reason}])


def cut_slabs(compound_id: str, structure: Structure, cfg: SlabConfig) -> SlabResult:
    """The slab stage of one compound; any failure becomes the compound's error row."""
    try:
        return compound_slabs(compound_id, structure, cfg)
    except Exception as exc:  # noqa: BLE001 - one compound's failure must not stop the screen
        return slab_error(compound_id, f"{type(exc).__name__}: {exc}".splitlines()[0])


def _timed_slabs(job: tuple[Candidate, SlabConfig]) -> tuple[Candidate, SlabResult, float]:
    cand, cfg = job
    t0 = time.perf_counter()
    res = cut_slabs(cand.compound_id, cand.structure, cfg)
    return cand, res, time.perf_counter() - t0


def _worker_died(job: tuple[Candidate, SlabConfig], reason: str) -> tuple[Candidate, SlabResult, float]:
    """The outcome of a compound whose slab worker died (a segfault in a C extension, an
    out-of-memory kill): its error row; the screen goes on."""
    cand, _ = job
    log.warning("%s: %s while cutting its slabs; recorded as an error row", cand.compound_id, reason)
    return cand, slab_error(cand.compound_id, f"{reason} while cutting its slabs"), 0.0


def find_candidates(cfg: ScreenConfig) -> CandidateSet:
    """The screen's candidates; a problem the user must fix raises :class:`~.candidates.CandidateError`
    (the source) or :class:`ScreenError` (no candidate left)."""
    found = screen_candidates(
        cfg.source,
        Path(cfg.structures) if cfg.structures else None,
        cfg.e_above_hull,
        cfg.elements,
        cfg.max_atoms,
        cfg.limit,
        cfg.max_elements,
    )
    if not found.candidates:
        if found.n_valid:
            raise ScreenError("no candidate structures to screen after the filters (--elements, --max-atoms)")
        first = found.errors[0] if found.errors else {"id": "-", "reason": "none found"}
        raise ScreenError(
            f"no candidate structures to screen: {len(found.errors)} input(s) failed, "
            f"e.g. {first['id']}: {first['reason']}"
        )
    return found


def load_predictor(model: str | None, mlip_prior: bool = False) -> Predictor | PriorPredictor:
    """The model for a screen (``None``: the shipped one), with the ML-potential prior on its
    surface energies when ``mlip_prior`` (:mod:`.mlip_prior`); a missing checkpoint or SevenNet
    raises :class:`ScreenError`, a bad checkpoint :class:`~semcgcnn.model.checkpoint.CheckpointError`."""
    import importlib.util

    from semcgcnn.model.predict import load_pretrained

    if mlip_prior and importlib.util.find_spec("sevenn") is None:
        from semcgcnn.pipeline.labelling.mlip import INSTALL_HINT

        raise ScreenError(f"--mlip-prior needs the SevenNet ML potential: {INSTALL_HINT}")
    try:
        if mlip_prior:
            from .mlip_prior import PriorPredictor

            return PriorPredictor(load_pretrained(model))
        return load_pretrained(model)
    except FileNotFoundError as exc:
        raise ScreenError(f"model checkpoint not found: {exc}") from None


def check_manifest(out: Path, params: dict, model_id: str, resume: bool, run_id: str | None = None) -> None:
    """Refuse to mix two screens in one folder; write the manifest of a new one. ``run_id``: a
    workflow's id for this screen; a workflow manager rerunning that same workflow (a lost or
    failed job) continues it as if resumed."""
    path = out / MANIFEST
    if path.exists():
        old = json.loads(path.read_text())
        if not resume and (run_id is None or old.get("run_id") != run_id):
            raise ScreenError(
                f"{out} already holds a screen; pass --resume to continue it or choose a new --out"
            )
        if old.get("parameters") != params or old.get("model_id") != model_id:
            raise ScreenError(f"{out} holds a screen with other parameters or model; use a new --out")
    else:
        out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        manifest = {"parameters": params, "model_id": model_id, **({"run_id": run_id} if run_id else {})}
        try:
            tmp.write_text(json.dumps(manifest, indent=1))
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if is_disk_full(exc):
                raise disk_full_error(path) from None
            raise
        os.replace(tmp, path)


@dataclass
class ScreenStart:
    """Where a screen, new or resumed, starts: its candidates, the part store of its folder and the
    candidates not yet committed there (in candidate order)."""

    found: CandidateSet
    store: PartStore
    todo: list[Candidate]


def start_screen(
    cfg: ScreenConfig,
    out: Path,
    model_id: str,
    resume: bool = False,
    run_id: str | None = None,
    clock: StageClock | None = None,
) -> ScreenStart:
    """Set up the screen ``cfg`` in the folder ``out``: find its candidates, check the folder's
    manifest (write it for a new screen) and list the candidates still to do.

    Args:
        cfg: the screen.
        out: its folder, already checked to be writable (:func:`~semcgcnn.paths.check_output_dir`).
        model_id: the id of the model that screens (the manifest records it).
        resume: continue a screen already in ``out``.
        run_id: a workflow's id for this screen (:func:`check_manifest`).
        clock: gets the time spent finding the candidates as its ``candidates`` stage.

    Raises:
        UserError: the candidates' source, no candidate left, or a folder holding another screen.
    """
    with clock.timed("candidates") if clock is not None else contextlib.nullcontext():
        found = find_candidates(cfg)
    check_manifest(out, cfg.parameters(), model_id, resume, run_id)
    store = PartStore(out)
    done = store.done()
    return ScreenStart(found, store, [c for c in found.candidates if c.compound_id not in done])


class StageClock(dict):
    """Seconds per stage (``clock.timed("name")`` adds a block's wall time to ``clock["name"]``)."""

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self[stage] = self.get(stage, 0.0) + time.perf_counter() - t0

    @classmethod
    def for_screen(cls) -> StageClock:
        """A clock with every stage of a screen at zero."""
        return cls(slabs_wall=0.0, slabs_cpu=0.0, predictions=0.0, wulff_and_write=0.0)


def _slab_batches(
    todo: list[Candidate],
    cfg: SlabConfig,
    workers: int,
    batch_size: int,
    clock: StageClock,
    advance: Callable[[int], None],
) -> Iterator[list[tuple[Candidate, SlabResult]]]:
    """Compounds whose slabs are cut, in batches of ``batch_size`` as they finish (largest cells
    start first so the pool stays balanced; a compound whose worker dies is an error row);
    ``clock`` gets the slab stage's wall and CPU time."""
    jobs = [(c, cfg) for c in sorted(todo, key=lambda c: -c.n_atoms)]
    t0, batch = time.perf_counter(), []
    with closing(as_completed_map(_timed_slabs, jobs, workers, on_crash=_worker_died)) as done:
        for cand, res, dt in done:
            clock["slabs_cpu"] += dt
            advance(1)
            batch.append((cand, res))
            if len(batch) >= batch_size:
                yield batch
                batch = []
    clock["slabs_wall"] = time.perf_counter() - t0
    if batch:
        yield batch


def _commit(
    batch: list[tuple[Candidate, SlabResult]],
    predictor: Predictor | PriorPredictor,
    store: PartStore,
    clock: StageClock,
) -> Path:
    """Predict, Wulff-construct and commit one batch as a part."""
    with clock.timed("predictions"):
        tables = screen_batch(batch, predictor)
    with clock.timed("wulff_and_write"):
        return store.commit(tables, [c.compound_id for c, _ in batch])


def _ignore(n: int = 1) -> None:
    """A progress callback that reports nowhere."""


def screen_and_commit(
    todo: list[Candidate],
    cfg: SlabConfig,
    predictor: Predictor | PriorPredictor,
    store: PartStore,
    workers: int = 1,
    batch_size: int = BATCH_SIZE,
    clock: StageClock | None = None,
    on_slabs: Callable[[int], None] = _ignore,
    on_batch: Callable[[int], None] = _ignore,
) -> list[Path]:
    """Cut, predict, Wulff-construct and commit ``todo`` in parts of ``batch_size`` compounds
    (slabs on ``workers`` processes, predictions on one torch thread); returns the new parts.
    ``clock`` (see :meth:`StageClock.for_screen`) gets the stage times."""
    clock = StageClock.for_screen() if clock is None else clock
    parts = []
    with _torch_threads(1):  # one thread always: the same tables with any --workers (see batch.py)
        slab_batches = _slab_batches(todo, cfg, workers, batch_size, clock, on_slabs)
        with closing(slab_batches):  # closed at once on Ctrl-C or an error: its slab workers stop then
            for batch in slab_batches:
                parts.append(_commit(batch, predictor, store, clock))
                on_batch(len(batch))
    return parts


def run_screen(
    cfg: ScreenConfig,
    out: Path,
    workers: int = 0,
    resume: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Bars = QUIET,
) -> ScreenSummary:
    """Run (or resume) a screen into ``out``; returns counts, stage times and the table paths."""
    out, workers = Path(out), n_workers(workers)
    clock = StageClock.for_screen()
    check_output_dir(out)
    with clock.timed("total"), RunLock(out):
        predictor = load_predictor(cfg.model, cfg.mlip_prior)  # a bad model fails before any work
        start = start_screen(cfg, out, predictor.model_id, resume, clock=clock)
        found, store, todo = start.found, start.store, start.todo
        order = {c.compound_id: i for i, c in enumerate(found.candidates)}
        log.info(
            "%d candidates (%d already done), %d input errors; %d workers",
            len(order),
            len(order) - len(todo),
            len(found.errors),
            workers,
        )
        slabs_bar = progress.stage("slabs", len(order), completed=len(order) - len(todo))
        batch_bar = progress.stage("predictions+wulff", len(order), completed=len(order) - len(todo))
        screen_and_commit(todo, cfg.slab, predictor, store, workers, batch_size, clock, slabs_bar, batch_bar)
        with clock.timed("assemble"):
            paths = store.assemble(
                order, found.errors, provenance(predictor.model_id, found.source, cfg.parameters())
            )
    rows = {name: pq.read_metadata(paths[name]).num_rows for name in ("slabs", "errors", "compounds")}
    return ScreenSummary(
        out, len(order), rows["compounds"], rows["slabs"], rows["errors"], dict(clock), paths
    )


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """torch's thread count set to ``n`` for a block (``None``: unchanged). The screen predicts on
    one thread: slab workers use the other cores, and float32 results do not then depend on how
    many threads a run had, so the tables are the same with any ``--workers``."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
