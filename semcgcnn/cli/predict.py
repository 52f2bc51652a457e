"""``semcgcnn predict``: the shipped (or any) model on slab files."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .common import console, fail

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

SHOWN_ROWS = 20
"""Prediction rows printed after writing; the rest are counted, and are in the table written."""


def predict(
    paths: Annotated[
        list[str],
        typer.Argument(help="Slab files (CIF, POSCAR/.vasp, pymatgen JSON) or directories of them."),
    ],
    out: Annotated[
        str, typer.Option(help="Predictions Parquet; errors go to OUT with .errors.parquet.")
    ] = "predictions.parquet",
    model: Annotated[
        str,
        typer.Option(help="Checkpoint (.json/.safetensors stem, or its folder); default: the shipped model."),
    ] = "",
    compile: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="torch.compile the convolutions: ≈1.4× faster on "
            "thousands of slabs, after a few seconds' compile.",
        ),
    ] = False,
) -> None:
    """Predict surface energy and work function of slabs; bad files become error rows."""
    from pathlib import Path

    from semcgcnn.model.predict import load_pretrained
    from semcgcnn.paths import OutputPathError, check_output_file
    from semcgcnn.pipeline.predict.files import predict_slab_files, write_outputs

    check_output_file(Path(out))  # the output location is checked before any work, so no work is lost to it
    try:
        predictor = load_pretrained(model or None, compile=compile)
    except FileNotFoundError as e:  # a checkpoint's file gone (not a UserError): one line all the same
        raise fail(str(e)) from None
    preds, errors = predict_slab_files([Path(p) for p in paths], predictor)
    for row in errors.itertuples():
        console.print(f"[yellow]skipped[/] {row.path}: {row.reason}")
    try:
        out_path, err_path = write_outputs(preds, errors, Path(out), predictor)
    except OutputPathError as e:  # a full disk: neither table written
        raise fail(str(e), code=1) from None
    if len(preds):
        _print_predictions(preds, out_path)
    flagged = int(preds["out_of_domain"].sum()) if len(preds) else 0
    asymmetric = int((~preds["symmetric_slab"]).sum()) if len(preds) else 0
    console.print(
        f"{len(preds)} slabs predicted ({flagged} outside the training domain, {asymmetric} asymmetric) "
        f"→ {out_path}; {len(errors)} errors → {err_path}"
    )
    if len(preds) == 0:
        raise typer.Exit(1)


def _value(value: float, std: float, digits: int) -> str:
    """``value ± std`` (no ± where the model gives no 1σ: a single model's NaN)."""
    if not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if math.isfinite(std) else "")


def _print_predictions(preds: pd.DataFrame, out: Path) -> None:
    """The first :data:`SHOWN_ROWS` predictions as a table (id, γ, Φ with 1σ, verdict), then how many
    more rows ``out`` holds, as ``semcgcnn screen`` prints its summary."""
    from semcgcnn.units import EV_PER_A2_TO_J_PER_M2

    model_id = preds["model_id"].iloc[0]
    table = Table(title=f"Predictions of {model_id} (± calibrated 1σ where the model is an ensemble)")
    for col in ("id", "γ (eV/Å²)", "γ (J/m²)", "Φ (eV)", "verdict"):
        table.add_column(col)
    for r in preds.head(SHOWN_ROWS).itertuples():
        se, se_std = r.surface_energy_eV_per_A2, r.surface_energy_eV_per_A2_std
        table.add_row(
            r.structure_id,
            _value(se, se_std, 4),
            _value(se * EV_PER_A2_TO_J_PER_M2, se_std * EV_PER_A2_TO_J_PER_M2, 3),
            _value(r.work_function_eV, r.work_function_eV_std, 2),
            r.verdict,
        )
    console.print(table)
    if len(preds) > SHOWN_ROWS:
        console.print(f"… {len(preds) - SHOWN_ROWS} more rows in {out}")
