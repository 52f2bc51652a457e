"""The screen Flow's candidates as files in the screen folder, so no job document grows with them.

The candidates job writes every candidate still to screen into ``OUT/parts/todo/`` (one JSON file
per :data:`CANDIDATES_PER_FILE` candidates, in candidate order) and the candidate order and input
errors into ``OUT/parts/todo/index.json``; fan-out and batch jobs then carry only the folder and a
range of positions. The screen folder is shared by every worker already (the part store lives in
it), so a batch job on any worker reads its candidates there. Files are written whole to a
temporary name and renamed, so a rerun of the candidates job never leaves a half file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from monty.json import MontyDecoder, MontyEncoder

from semcgcnn.pipeline.screen.candidates import Candidate
from semcgcnn.pipeline.screen.store import PARTS

CANDIDATES_PER_FILE = 8
TODO = "todo"
INDEX = "index.json"


def todo_dir(out: Path | str) -> Path:
    """The folder of the candidates still to screen of the screen in ``out``."""
    return Path(out) / PARTS / TODO


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_todo(out: Path | str, todo: list[Candidate], compound_ids: list[str], errors: list[dict]) -> int:
    """Write ``todo`` (the candidates to screen) in files of :data:`CANDIDATES_PER_FILE` and the
    index (every candidate's id in order, the input errors); return how many candidates are to do."""
    folder = todo_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("chunk-*.json"):
        old.unlink()
    for i in range(0, len(todo), CANDIDATES_PER_FILE):
        chunk = todo[i : i + CANDIDATES_PER_FILE]
        _write(folder / f"chunk-{i // CANDIDATES_PER_FILE:06d}.json", json.dumps(chunk, cls=MontyEncoder))
    index = {"n_todo": len(todo), "compound_ids": compound_ids, "candidate_errors": errors}
    _write(folder / INDEX, json.dumps(index))
    return len(todo)


def read_index(out: Path | str) -> dict:
    """The index :func:`write_todo` wrote: ``n_todo``, ``compound_ids``, ``candidate_errors``."""
    return json.loads((todo_dir(out) / INDEX).read_text())


def read_todo(out: Path | str, start: int, stop: int) -> list[Candidate]:
    """The candidates at positions ``start`` … ``stop - 1`` of the screen's to-do list."""
    folder, out_list = todo_dir(out), []
    for f in range(start // CANDIDATES_PER_FILE, (max(stop, start + 1) - 1) // CANDIDATES_PER_FILE + 1):
        chunk = json.loads((folder / f"chunk-{f:06d}.json").read_text(), cls=MontyDecoder)
        base = f * CANDIDATES_PER_FILE
        out_list += [c for i, c in enumerate(chunk, base) if start <= i < stop]
    return out_list
