"""The ``semcgcnn`` command line: one module per command group; commands only parse their
arguments, check them (one-line errors) and call the library, whose user errors
(:class:`~semcgcnn.errors.UserError`) each command reports as one line (:func:`.common.one_line_errors`)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from . import data, dissolution, label, loop, predict, report, screen, search, select, training
from .common import DefaultCommandGroup, OneLineLogHandler, PlainHelpCommand, PlainHelpGroup, one_line_errors

app = typer.Typer(
    cls=PlainHelpGroup,
    add_completion=False,
    no_args_is_help=True,
    help="SEM-CGCNN surface-property screening.",
)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[OneLineLogHandler()],
    )


USER_ERROR_EXIT = {screen.screen: 1}
"""Exit status of a user error where it is not 2: a screen that stops on one exits 1 (its argument
checks exit 2)."""

for command in (
    data.datasets,
    data.featurize,
    training.train,
    predict.predict,
    training.ship,
    training.finetune,
    search.hyperopt,
    data.bundle,
    screen.screen,
    select.select,
    loop.loop,
    dissolution.dissolution,
    report.report,
):
    app.command(cls=PlainHelpCommand)(one_line_errors(command, USER_ERROR_EXIT.get(command, 2)))


label_app = typer.Typer(
    cls=DefaultCommandGroup,
    add_completion=False,
    no_args_is_help=True,
    help="DFT (GPAW, VASP) or ML-potential surface labels: `label BULK --out OUT` runs them "
    "(`label run`), `label collect DIR` reads finished --dry-run folders back.",
)
for name, command in (("run", label.label), ("collect", label.collect)):
    label_app.command(name, cls=PlainHelpCommand)(one_line_errors(command, 2))
app.add_typer(label_app, name="label")


def run() -> None:  # pragma: no cover - console entry for `python -m semcgcnn`
    sys.exit(app())
