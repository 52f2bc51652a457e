"""Parse raw structure texts in parallel and cache them as a Parquet table.

The cache holds plain arrays (lattice, atomic numbers, fractional coordinates) keyed by
a content hash of the source files, the parser version and the pymatgen version; it is
rebuilt whenever any of them changes. Nothing is pickled.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semcgcnn.parallel import map_chunks
from semcgcnn.paths import atomic_write_bytes, cache_dir, sha256_files
from semcgcnn.validation import check_structure

from .sources import RawStructure

log = logging.getLogger(__name__)

PARSER_VERSION = "1"


@dataclass
class StructureArrays:
    """Structures of one dataset as flat arrays (CSR layout over atoms)."""

    ids: list[str]
    lattices: np.ndarray  # (n, 3, 3) Å, rows are lattice vectors
    atomic_numbers: np.ndarray  # (total_atoms,)
    frac_coords: np.ndarray  # (total_atoms, 3)
    atom_ptr: np.ndarray  # (n + 1,) offsets into the atom arrays

    def __len__(self) -> int:
        return len(self.ids)

    def to_structures(self) -> list:
        from pymatgen.core import Lattice, Structure

        out = []
        for i in range(len(self)):
            a, b = self.atom_ptr[i], self.atom_ptr[i + 1]
            out.append(
                Structure(Lattice(self.lattices[i]), self.atomic_numbers[a:b].tolist(), self.frac_coords[a:b])
            )
        return out


def _parse_one(raw: RawStructure):
    from pymatgen.core import Structure

    sid, fmt, text = raw
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt == "cif":
            s = Structure.from_str(text, fmt="cif")
        else:
            import json

            s = Structure.from_dict(json.loads(text))
    check_structure(s, sid)
    return sid, s.lattice.matrix, np.asarray(s.atomic_numbers, dtype=np.int16), s.frac_coords


def _parse_chunk(chunk: list[RawStructure]):
    return [_parse_one(r) for r in chunk]


def parse_structures(
    raw: list[RawStructure], workers: int | None = None, progress: Callable[[int], None] | None = None
) -> StructureArrays:
    """Parse raw texts ``raw``, in parallel over ``workers`` processes (default: all cores);
    ``progress`` is called with the number of structures parsed after each chunk."""
    chunks = [raw[i : i + 64] for i in range(0, len(raw), 64)]
    parsed = map_chunks(_parse_chunk, chunks, workers=workers, progress=progress)
    counts = np.array([len(p[2]) for p in parsed], dtype=np.int64)
    return StructureArrays(
        ids=[p[0] for p in parsed],
        lattices=np.stack([p[1] for p in parsed]).astype(np.float64),
        atomic_numbers=np.concatenate([p[2] for p in parsed]),
        frac_coords=np.concatenate([p[3] for p in parsed]).astype(np.float64),
        atom_ptr=np.concatenate([[0], np.cumsum(counts)]),
    )


def _to_table(arr: StructureArrays) -> pa.Table:
    counts = np.diff(arr.atom_ptr)
    offsets = pa.array(arr.atom_ptr.astype(np.int32))
    offsets3 = pa.array((arr.atom_ptr * 3).astype(np.int32))
    return pa.table(
        {
            "structure_id": pa.array(arr.ids, pa.string()),
            "lattice_A": pa.FixedSizeListArray.from_arrays(pa.array(arr.lattices.reshape(-1)), 9),
            "atomic_numbers": pa.ListArray.from_arrays(offsets, pa.array(arr.atomic_numbers)),
            "frac_coords": pa.ListArray.from_arrays(offsets3, pa.array(arr.frac_coords.reshape(-1))),
            "n_atoms": pa.array(counts.astype(np.int32)),
        }
    )


def _from_table(t: pa.Table) -> StructureArrays:
    counts = t.column("n_atoms").to_numpy().astype(np.int64)
    return StructureArrays(
        ids=t.column("structure_id").to_pylist(),
        lattices=t.column("lattice_A").combine_chunks().flatten().to_numpy().reshape(-1, 3, 3),
        atomic_numbers=t.column("atomic_numbers").combine_chunks().flatten().to_numpy(),
        frac_coords=t.column("frac_coords").combine_chunks().flatten().to_numpy().reshape(-1, 3),
        atom_ptr=np.concatenate([[0], np.cumsum(counts)]),
    )


def structure_cache_key(name: str, files: list[Path]) -> str:
    import pymatgen.core

    salt = f"{name}|parser={PARSER_VERSION}|pymatgen={pymatgen.core.__version__}"
    return sha256_files(files, salt)[:16]


def cached_structures(
    name: str,
    files: list[Path],
    read_raw: Callable[[], list[RawStructure]],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[StructureArrays, bool]:
    """Load parsed structures from the cache, or parse and cache them.

    Returns the arrays and whether they came from the cache. Stale cache files of the
    same dataset (other keys) are removed when a new one is written.

    ``name``: the dataset's name; ``files``: its source files (their content keys the cache);
    ``read_raw``: reads the raw structure texts, called only on a cache miss; ``workers`` and
    ``progress``: as in :func:`parse_structures`.
    """
    folder = cache_dir("structures")
    key = structure_cache_key(name, files)
    path = folder / f"{name}-{key}.parquet"
    if path.exists():
        return _from_table(pq.read_table(path)), True
    log.info("parsing %s structures (first use or inputs changed); cached at %s", name, path)
    arr = parse_structures(read_raw(), workers=workers, progress=progress)
    atomic_write_bytes(path, lambda tmp: pq.write_table(_to_table(arr), tmp))
    for stale in folder.glob(f"{name}-*.parquet"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return arr, False
