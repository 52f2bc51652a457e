"""Compare two runs' Parquet outputs table by table: are they identical (provenance time aside)?

Used to show that a refactor changed no result: run ``semcgcnn screen`` (and ``semcgcnn
predict``) with the code before and after, then

    python bench/identity.py BEFORE_DIR AFTER_DIR [--out bench/results/identity.json]

Every ``*.parquet`` file under BEFORE_DIR is compared with the same relative path under AFTER_DIR:
same columns, same dtypes, same number of rows, and every value equal (floats bit for bit, NaN
equal to NaN). The file metadata must match too, except ``created_utc`` and the package version.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from semcgcnn.schema import read_metadata

VOLATILE_META = ("created_utc", "package_version")


def compare_tables(before: Path, after: Path) -> dict:
    """``{rows, columns, identical, differences}`` for one pair of Parquet files."""
    a, b = pd.read_parquet(before), pd.read_parquet(after)
    diffs = []
    if list(a.columns) != list(b.columns):
        diffs.append(f"columns differ: {list(a.columns)} vs {list(b.columns)}")
    elif len(a) != len(b):
        diffs.append(f"{len(a)} rows vs {len(b)}")
    else:
        for col in a.columns:
            if a[col].dtype != b[col].dtype:
                diffs.append(f"{col}: dtype {a[col].dtype} vs {b[col].dtype}")
            elif not a[col].equals(b[col]):
                bad = (a[col] != b[col]) & ~(a[col].isna() & b[col].isna())
                size = ""
                if pd.api.types.is_float_dtype(a[col]):
                    rel = ((a[col] - b[col]).abs() / a[col].abs()).max()
                    size = f", max |diff| {(a[col] - b[col]).abs().max():.3g} (relative {rel:.3g})"
                diffs.append(
                    f"{col}: {int(bad.sum())} rows differ, first at row {int(bad.to_numpy().argmax())}{size}"
                )
    ma, mb = read_metadata(before), read_metadata(after)
    for key in sorted(set(ma) | set(mb)):
        if key not in VOLATILE_META and ma.get(key) != mb.get(key):
            diffs.append(f"metadata {key!r} differs: {ma.get(key)!r} vs {mb.get(key)!r}")
    return {"rows": len(a), "columns": len(a.columns), "identical": not diffs, "differences": diffs}


def compare_dirs(before: Path, after: Path) -> dict:
    files = sorted(p.relative_to(before) for p in before.rglob("*.parquet") if "parts" not in p.parts)
    out = {}
    for rel in files:
        other = after / rel
        out[str(rel)] = (
            compare_tables(before / rel, other)
            if other.exists()
            else {"identical": False, "differences": ["missing after"]}
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--out", type=Path, help="write the comparison as JSON here")
    ap.add_argument("--note", default="", help="what BEFORE and AFTER are (recorded in the JSON)")
    args = ap.parse_args()
    result = {"note": args.note, "tables": compare_dirs(args.before, args.after)}
    result["all_identical"] = bool(result["tables"]) and all(
        t["identical"] for t in result["tables"].values()
    )
    for name, t in result["tables"].items():
        status = "identical" if t["identical"] else "DIFFERENT: " + "; ".join(t["differences"][:3])
        print(f"{name:40s} {t.get('rows', '-'):>6} rows  {status}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["all_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
