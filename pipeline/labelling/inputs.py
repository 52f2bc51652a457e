"""Input folders to run elsewhere (``semcgcnn label --dry-run``) and their way back: the folder
tree's manifest, the script that runs every folder, and :func:`collect_labels`, which turns the
finished folders into the same ``labels.parquet`` / ``errors.parquet`` as a label run.

A tree (``OUT/vasp_inputs`` or ``OUT/gpaw_inputs``) holds one folder per calculation (the bulk,
the rich element's reference where a slab needs it, each slab), each with a ``run.sh``, a
``run_all.sh`` running them in order (the bulk first) and :data:`MANIFEST`: which folder is which
calculation, every slab's slab-stage row, the slab stage's error rows and the labelling's
settings. A VASP folder's result is its ``static/`` step (:func:`~.vasp.parse_vasp_dir`), a GPAW
folder's its runner's ``output.json`` (:func:`~.gpaw.parse_gpaw_dir`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .calc import CalcResult, LabelError
from .rows import row_or_error, split_results

if TYPE_CHECKING:
    from collections.abc import Callable

MANIFEST = "labelling.json"
FORMAT = "sem-cgcnn label inputs 1"
ROOTS = {"vasp": "vasp_inputs", "gpaw": "gpaw_inputs"}
"""The tree's folder name in a label run's output folder, per code."""

RUN_ALL_SCRIPT = """#!/usr/bin/env bash
# every calculation of this label run, the bulk first (its energy is the slabs' reference);
# then: semcgcnn label collect "$(dirname "$0")"
set -euo pipefail
cd "$(dirname "$0")"
{lines}
"""


def run_all_script(folders: list[str]) -> str:
    """The tree's ``run_all.sh``: each folder's ``run.sh`` in order (``folders``: names)."""
    return RUN_ALL_SCRIPT.format(lines="\n".join(f"bash {f}/run.sh" for f in folders))


def write_manifest(
    root: Path,
    code: str,
    meta: dict,
    parameters: dict,
    bulk: str,
    reference: str | None,
    slabs: list[tuple[str, dict]],
    slab_errors: list[dict],
) -> Path:
    """Write the tree's :data:`MANIFEST` and ``run_all.sh``; returns the manifest's path.

    ``root``: the tree; ``code``: ``"vasp"`` or ``"gpaw"``; ``meta``: the labelling's settings
    (as :func:`~.rows.row_or_error` takes them); ``parameters``: every setting, for the tables'
    provenance; ``bulk`` and ``reference``: the folder names of the bulk and of the rich
    element's reference (None: none needed); ``slabs``: ``(folder name, slab-stage row)`` of each
    slab; ``slab_errors``: the slab stage's error rows."""
    from monty.json import jsanitize

    root = Path(root)
    doc = {
        "format": FORMAT,
        "code": code,
        "meta": meta,
        "parameters": parameters,
        "bulk": bulk,
        "reference": reference,
        "slabs": [{"folder": f, "row": row} for f, row in slabs],
        "slab_errors": slab_errors,
    }
    path = root / MANIFEST
    path.write_text(json.dumps(jsanitize(doc, strict=False), indent=1))
    folders = [bulk, *([reference] if reference else []), *(f for f, _ in slabs)]
    (root / "run_all.sh").write_text(run_all_script(folders))
    (root / "run_all.sh").chmod(0o755)
    return path


def read_manifest(root: Path) -> dict:
    """The :data:`MANIFEST` of the tree ``root`` (``root`` may also be the label run's output
    folder holding one tree); a one-line LabelError when there is none or it is not one."""
    root = Path(root)
    candidates = [root, *(root / name for name in ROOTS.values())]
    found = [c / MANIFEST for c in candidates if (c / MANIFEST).is_file()]
    if not found:
        raise LabelError(
            f"{root}: no {MANIFEST} here (collect reads a folder written by `semcgcnn label --dry-run`: "
            f"OUT/{ROOTS['vasp']} or OUT/{ROOTS['gpaw']})"
        )
    if len(found) > 1:
        trees = ", ".join(str(f.parent) for f in found)
        raise LabelError(f"{root}: holds {len(found)} input trees; name one of {trees}")
    try:
        doc = json.loads(found[0].read_text())
    except ValueError as e:
        raise LabelError(f"{found[0]}: not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("code") not in ROOTS:
        raise LabelError(f"{found[0]}: not a sem-cgcnn label manifest ({FORMAT!r})")
    return {**doc, "root": str(found[0].parent)}


def _parser(code: str) -> Callable[[Path, str], CalcResult]:
    """The reader of one finished folder of ``code``."""
    if code == "vasp":
        from .vasp import parse_vasp_dir

        return lambda folder, kind: parse_vasp_dir(folder / "static", kind)
    from .gpaw import parse_gpaw_dir

    return parse_gpaw_dir


def collect_labels(root: Path) -> tuple[list[dict], list[dict], dict]:
    """The labels rows and error rows of the finished tree ``root`` (see :func:`read_manifest`),
    and its manifest. A folder that did not finish or cannot be read becomes its slab's error row
    (the bulk's: every slab's), never a lost row."""
    manifest = read_manifest(root)
    tree, parse, meta = Path(manifest["root"]), _parser(manifest["code"]), manifest["meta"]

    def result(folder: str | None, kind: str) -> CalcResult | dict | None:
        if folder is None:
            return None
        try:
            return parse(tree / folder, kind)
        except (LabelError, OSError, ValueError, KeyError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return {"error": f"{manifest['code'].upper()} {kind} calculation in {folder}: {reason}"}

    bulk = result(manifest["bulk"], "bulk")
    reference = result(manifest["reference"], "bulk")
    results = [
        row_or_error(s["row"]["slab_id"], s["row"], result(s["folder"], "slab"), bulk, reference, meta)
        for s in manifest["slabs"]
    ]
    rows, errors = split_results(results, manifest["slab_errors"], meta["bulk_id"])
    return rows, errors, manifest
