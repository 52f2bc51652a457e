"""Readers for the raw files of each shipped dataset: labels and raw structure text.

Labels (targets, chemical system, metadata) are read straight from the small CSV files on
every load; structures are parsed once and cached (see :mod:`semcgcnn.datasets.structures`).
"""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pandas as pd

from .registry import TARGETS, DatasetSpec

RawStructure = tuple[str, str, str]
"""``(structure_id, format, text)`` with format ``"cif"`` or ``"json"`` (pymatgen dict)."""


def _archive(root: Path) -> Path:
    archives = sorted(root.glob("*.tar.xz"))
    if len(archives) != 1:
        raise FileNotFoundError(f"expected one *.tar.xz CIF archive in {root}, found {len(archives)}")
    return archives[0]


def structure_files(spec: DatasetSpec, root: Path) -> list[Path]:
    """The files whose bytes determine the parsed structures (the cache key)."""
    if spec.kind == "slab":
        return [_archive(root)]
    if spec.name == "mg_binary_bulk":
        return [root / "mg_binaries_mp.json.gz"]
    return [root / "MP-PBE-Element-Refs.json.gz"]


def read_labels(spec: DatasetSpec, root: Path) -> pd.DataFrame:
    """One row per structure: ``structure_id``, ``chemsys``, target columns (units in names), metadata."""
    if spec.kind == "slab":
        return _slab_labels(spec, root)
    if spec.name == "mg_binary_bulk":
        df = pd.read_csv(root / "mg_binaries_mp.csv.gz").drop(columns=["cif"])
        df = df.rename(
            columns={
                "material_id": "structure_id",
                "bulk_modulus_vrh_GPa": TARGETS["bulk_modulus_vrh"].column,
                "shear_modulus_vrh_GPa": TARGETS["shear_modulus_vrh"].column,
            }
        )
        df["chemsys"] = ["-".join(sorted(("Mg", x))) for x in df["X_element"]]
        return _ordered(df, spec)
    df = pd.read_csv(root / "elemental_refs_mp_pbe.csv.gz").drop(columns=["cif"])
    df["structure_id"] = df["element"] + "-" + df["polymorph_index"].astype(str)
    df["chemsys"] = df["element"]
    df = df.rename(columns={"energy_per_atom_eV": TARGETS["energy_per_atom"].column})
    return _ordered(df, spec)


def _slab_labels(spec: DatasetSpec, root: Path) -> pd.DataFrame:
    names = ["structure_id", *(TARGETS[t].column for t in spec.targets)]
    props = pd.read_csv(root / "id_prop.csv", header=None, names=names, dtype={"structure_id": str})
    meta = pd.read_csv(root / "metadata.csv", dtype={"id": str})
    if list(meta["id"]) != list(props["structure_id"]):
        raise ValueError(f"{root}: metadata.csv and id_prop.csv list different ids")
    drop = [c for c in meta.columns if c.startswith(("surface_energy", "work_function"))] + ["id"]
    df = pd.concat([props, meta.drop(columns=drop)], axis=1)
    return _ordered(df, spec)


def _ordered(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    first = ["structure_id", "chemsys", *(TARGETS[t].column for t in spec.targets)]
    rest = [c for c in df.columns if c not in first]
    out = df[first + rest].reset_index(drop=True)
    if out["structure_id"].duplicated().any():
        raise ValueError(f"{spec.name}: duplicated structure ids")
    return out


def read_raw_structures(spec: DatasetSpec, root: Path) -> list[RawStructure]:
    """All raw structure texts of a dataset, keyed by structure id."""
    if spec.kind == "slab":
        out = []
        with tarfile.open(_archive(root), "r:xz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".cif"):
                    text = tar.extractfile(member).read().decode()
                    out.append((Path(member.name).stem, "cif", text))
        return out
    if spec.name == "mg_binary_bulk":
        with gzip.open(root / "mg_binaries_mp.json.gz", "rt") as fh:
            rows = json.load(fh)
        return [(r["material_id"], "json", json.dumps(r["structure"])) for r in rows]
    with gzip.open(root / "MP-PBE-Element-Refs.json.gz", "rt") as fh:
        refs = json.load(fh)
    return [
        (f"{el}-{i}", "json", json.dumps(s))
        for el, entry in refs.items()
        for i, s in enumerate(entry["structure"])
    ]
