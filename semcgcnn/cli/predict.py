"""``semcgcnn predict``: the shipped (or any) model on slab files."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import console, fail


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
    from semcgcnn.model.predict_files import predict_files, write_outputs
    from semcgcnn.paths import OutputPathError, check_output_file

    check_output_file(Path(out))  # the output location is checked before any work, so no work is lost to it
    try:
        predictor = load_pretrained(model or None, compile=compile)
    except FileNotFoundError as e:  # a checkpoint's file gone (not a UserError): one line all the same
        raise fail(str(e)) from None
    preds, errors = predict_files([Path(p) for p in paths], predictor)
    for row in errors.itertuples():
        console.print(f"[yellow]skipped[/] {row.path}: {row.reason}")
    try:
        out_path, err_path = write_outputs(preds, errors, Path(out), predictor)
    except OutputPathError as e:  # a full disk: neither table written
        raise fail(str(e), code=1) from None
    flagged = int(preds["out_of_domain"].sum()) if len(preds) else 0
    console.print(
        f"{len(preds)} slabs predicted ({flagged} outside the training domain) → {out_path}; "
        f"{len(errors)} errors → {err_path}"
    )
    if len(preds) == 0:
        raise typer.Exit(1)
