"""The closed loop as one jobflow Flow: screen → select → label → fine-tune → re-screen.

``ActiveLearningMaker(budget=4, labeller=SurfacePropertyMaker.from_backend("gpaw")).make(out)``: the screen of
:class:`~.screening.ScreeningMaker` into ``out/screen-0``; ``semcgcnn select``'s picks into
``out/picks``; one :class:`~.labelling.SurfacePropertyMaker` Flow per picked compound and facet
(labels in ``out/labels/ID_hkl``); every ensemble member fine-tuned on all the new labels
(``out/model-1.json``); the same screen again with that model into ``out/screen-1``. The select and
label steps replace themselves with what the picks need (``Response(replace=…)``), so the Flow is
built before anything is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from jobflow import Flow, Maker, Response, job

from semcgcnn.pipeline.screen import results
from semcgcnn.pipeline.screen.config import ScreenConfig

from .labelling.maker import SurfacePropertyMaker
from .schemas import ScreenSummaryDoc
from .screen.maker import ScreeningMaker

if TYPE_CHECKING:
    from semcgcnn.progress import Bars


@job
def select_job(screen: ScreenSummaryDoc, budget: int, out: str) -> dict:
    """``semcgcnn select`` on the finished screen: picks and their bulk files in ``out``."""
    from semcgcnn.pipeline.analysis.selection import select_from_screen, write_picks

    picks, manifest = select_from_screen(Path(screen.out_dir), budget)
    write_picks(picks, results.bulk_structures(manifest, list(picks["compound_id"].unique())), Path(out))
    return {
        "picks_dir": out,
        "model_id": screen.model_id,
        "picks": picks[
            [
                "pick",
                "slab_id",
                "compound_id",
                "miller_index",
                "surface_energy_eV_per_A2",
                "surface_energy_eV_per_A2_std",
                "work_function_eV",
                "work_function_eV_std",
            ]
        ].to_dict("records"),
    }


@job
def label_picks_job(selection: dict, labeller: SurfacePropertyMaker, out: str) -> Response:
    """One labelling Flow per picked compound and facet (``labeller`` with that facet); output:
    their LabelSetDocs."""
    import json

    from pymatgen.core import Structure

    flows, seen = [], set()
    for p in selection["picks"]:
        key = (p["compound_id"], p["miller_index"])
        if key in seen:
            continue
        seen.add(key)
        hkl = tuple(int(x) for x in p["miller_index"].strip("()").split())
        bulk = Structure.from_dict(
            json.loads((Path(selection["picks_dir"]) / "bulk" / f"{key[0]}.json").read_text())
        )
        maker = replace(labeller, miller=hkl)
        flows.append(maker.make(bulk, key[0], str(Path(out) / f"{key[0]}_{''.join(map(str, hkl))}")))
    return Response(replace=Flow(flows, output=[f.output for f in flows], name="label picks"))


@job
def finetune_job(label_docs: list, model: str | None, out: str, finetune: dict) -> str:
    """Every member of ``model`` (the shipped ensemble by default) fine-tuned on all new labels;
    returns the new model's card path."""
    from semcgcnn.model.checkpoint import SHIPPED_ENSEMBLE, SHIPPED_MODEL
    from semcgcnn.model.config import FinetuneConfig
    from semcgcnn.model.ensemble import is_ensemble_card
    from semcgcnn.model.training.ensemble import finetune_ensemble
    from semcgcnn.model.training.finetune import finetune as finetune_one

    paths = [Path(d.table_paths["labels"]) for d in label_docs if d.rows]
    if not paths:
        raise ValueError(
            "no slab was labelled: nothing to fine-tune on (see the label folders' errors.parquet)"
        )
    cfg = FinetuneConfig(**finetune)
    base = Path(model) if model else SHIPPED_ENSEMBLE if is_ensemble_card(SHIPPED_ENSEMBLE) else SHIPPED_MODEL
    if is_ensemble_card(base):
        return str(finetune_ensemble(base, paths, cfg, Path(out)))
    return str(finetune_one(base, paths, cfg, out=Path(out), progress=False).card_path)


@job
def rescreen_job(model: str, parameters: dict, out: str) -> Response:
    """The same screen with the fine-tuned model."""
    cfg = ScreenConfig.from_parameters({**parameters, "model": model})
    return Response(replace=ScreeningMaker(config=cfg).make(out))


@dataclass
class ActiveLearningMaker(Maker):
    """One round of active learning on the screen ``screen`` (its fields: a :class:`ScreeningMaker`)."""

    name: str = "active learning"
    screen: ScreeningMaker = field(default_factory=ScreeningMaker)
    budget: int = 4
    labeller: SurfacePropertyMaker = field(default_factory=SurfacePropertyMaker)
    finetune: dict = field(default_factory=dict)  # FinetuneConfig fields (defaults: semcgcnn finetune's)

    def make(self, out: str | Path) -> Flow:
        out = Path(out).resolve()
        first = self.screen.make(out / "screen-0")
        picks = select_job(first.output, self.budget, str(out / "picks"))
        picks.name = "select"
        labels = label_picks_job(picks.output, self.labeller, str(out / "labels"))
        labels.name = "label picks"
        tuned = finetune_job(labels.output, self.screen.config.model, str(out / "model-1"), self.finetune)
        tuned.name = "fine-tune"
        again = rescreen_job(tuned.output, self.screen.config.parameters(), str(out / "screen-1"))
        again.name = "re-screen"
        return Flow([first, picks, labels, tuned, again], output=again.output, name=self.name)


def run_loop_locally(maker: ActiveLearningMaker, out: Path, bars: Bars | None = None) -> dict:
    """Run one round of ``maker`` with ``jobflow.run_locally`` (job store and job folders in
    ``out/jobflow``, the round's folders in ``out``; ``bars``: progress bars to count its jobs on);
    returns the labelled slabs' DFT values next to the predictions before and after."""
    import pandas as pd

    from .local import JOBFLOW_DIR, run_flow

    out = Path(out).resolve()
    flow = maker.make(out)
    advance = (
        bars.stage("loop jobs", None) if bars is not None else None
    )  # total unknown: jobs replace themselves
    run_flow(flow, out / JOBFLOW_DIR, advance, create_folders=True)
    labels = pd.concat(
        [pd.read_parquet(p) for p in sorted((out / "labels").glob("*/labels.parquet"))], ignore_index=True
    )
    cols = [
        "slab_id",
        "surface_energy_eV_per_A2",
        "surface_energy_eV_per_A2_std",
        "work_function_eV",
        "work_function_eV_std",
        "model_id",
    ]
    before = results.read_table(out / "screen-0", "predictions", cols)[0].set_index("slab_id")
    after = results.read_table(out / "screen-1", "predictions", cols)[0].set_index("slab_id")
    compare = (
        labels[["structure_id", "miller_index", "surface_energy_eV_per_A2", "work_function_eV"]]
        .rename(
            columns={
                "structure_id": "slab_id",
                "surface_energy_eV_per_A2": "dft_surface_energy_eV_per_A2",
                "work_function_eV": "dft_work_function_eV",
            }
        )
        .set_index("slab_id")
    )
    compare = compare.join(before.add_prefix("before_")).join(after.add_prefix("after_")).reset_index()
    compare.to_parquet(out / "loop_comparison.parquet", index=False)
    return {
        "comparison": compare,
        "model_before": before["model_id"].iloc[0],
        "model_after": after["model_id"].iloc[0],
        "paths": {
            "comparison": out / "loop_comparison.parquet",
            "screen": out / "screen-1",
            "model": out / "model-1.json",
        },
    }
