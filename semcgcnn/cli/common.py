"""What every command shares: the one-line error, option types, small parsers and checks."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, ConsoleRenderable, Group
from rich.logging import RichHandler
from rich.markup import escape
from rich.text import Text
from rich.traceback import Traceback
from typer.core import TyperCommand, TyperGroup, TyperOption

from semcgcnn.errors import UserError
from semcgcnn.model.config import GraphConfig, TrainConfig

if TYPE_CHECKING:
    from pathlib import Path

console = Console(soft_wrap=True)
"""stdout: one-line messages are never wrapped at the terminal width (tables still fit it)."""

DEFAULT_GRAPH = GraphConfig()
"""The paper's graph settings: the CLI's defaults come from here, never from literals."""
DEFAULT_TRAIN = TrainConfig()
"""The paper's training schedule (150 epochs, ×0.1 at epoch 100), which the shipped model is trained
with: the training commands' defaults come from here, never from literals."""

# options shared by several commands (defaults stay per command)
SurfaceDepth = Annotated[float, typer.Option(help="Å from either surface flagged as surface (paper: 2).")]
Epochs = Annotated[int, typer.Option(help="Epochs per model (paper: 150).")]
LrDropEpoch = Annotated[int, typer.Option(help="Epoch of the ×0.1 learning-rate drop (paper: 100).")]
Seed = Annotated[int, typer.Option(help="Split and initialisation seed.")]
Threads = Annotated[int, typer.Option(help="torch threads (0: all cores); one per process when several run.")]
Device = Annotated[
    str, typer.Option(help="torch device of the training loop: cpu, or cuda on a GPU machine.")
]
Graphs = Annotated[
    str,
    typer.Option(
        help="Training bundle from `semcgcnn bundle` instead of the datasets "
        "(for a machine without pymatgen or the graph cache)."
    ),
]


class _FlagsWithoutType:
    """Help that shows no value type for a flag: this typer writes ``<bool>`` beside every on/off
    option (``--help`` included), which takes no value."""

    def get_params(self, ctx: typer.Context) -> list:
        params = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            if isinstance(p, TyperOption) and p.is_flag and p.metavar is None:
                p.metavar = ""  # typer's help prints the metavar, when set, in place of the type
        return params


class PlainHelpCommand(_FlagsWithoutType, TyperCommand):
    """Every command's class (``app.command(cls=PlainHelpCommand)``)."""


class PlainHelpGroup(_FlagsWithoutType, TyperGroup):
    """The ``semcgcnn`` app's class (``typer.Typer(cls=PlainHelpGroup)``)."""


class DefaultCommandGroup(PlainHelpGroup):
    """A command group whose first command runs when the first argument names none of its
    commands: ``semcgcnn label BULK ...`` is ``semcgcnn label run BULK ...``, beside
    ``semcgcnn label collect DIR``."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [next(iter(self.commands)), *args]
        return super().parse_args(ctx, args)


class OneLineLogHandler(RichHandler):
    """Rich log records on stderr, each one line (time, level, message) whatever the terminal
    width: a long message runs on rather than being cut in two."""

    def __init__(self) -> None:
        super().__init__(console=Console(stderr=True, soft_wrap=True), show_path=False)

    def render(
        self, *, record: logging.LogRecord, traceback: Traceback | None, message_renderable: ConsoleRenderable
    ) -> ConsoleRenderable:
        """``[date time] LEVEL    message`` as one unwrapped line (the traceback, if any, below it)."""
        when = datetime.fromtimestamp(record.created).strftime("[%x %X]")
        line = Text.assemble((when, "log.time"), " ", self.get_level_text(record), " ", message_renderable)
        return Group(line, traceback) if traceback else line


def fail(msg: str, code: int = 2) -> typer.Exit:
    """Print a one-line error (no traceback; never wrapped, and brackets in paths are not
    markup) and return the exit to raise."""
    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(msg)}")
    return typer.Exit(code)


def one_line_errors(command: Callable[..., None], code: int = 2) -> Callable[..., None]:
    """``command`` with every :class:`~semcgcnn.errors.UserError` it raises printed as one line
    (:func:`fail`) and exit status ``code``; the CLI registers each command through it.

    Args:
        command: a command function (typer still reads its signature and help).
        code: the exit status of a user error.
    """

    @functools.wraps(command)
    def run(*args, **kwargs) -> None:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            raise fail(str(exc), code) from None

    return run


def training_setup(graphs: str, **train_kw) -> tuple[TrainConfig, Path | None]:
    """(TrainConfig, training-bundle path or None) of a training command, checking the device
    and the bundle first. ``graphs`` is the command's ``--graphs`` value (see :func:`bundle_path`);
    ``train_kw`` are the :class:`~semcgcnn.model.config.TrainConfig` fields."""
    check_device(train_kw.get("device", "cpu"))
    return TrainConfig(**train_kw), bundle_path(graphs)


def check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise fail(f"unknown device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise fail(f"device {device!r} asked for, but torch sees no CUDA GPU here")


def check_readout(readout: str) -> None:
    """A ``--readout`` value, or a one-line error."""
    from semcgcnn.model.config import READOUTS

    if readout not in READOUTS:
        raise fail(f"--readout must be one of {', '.join(READOUTS)}, not {readout!r}")


def csv_items(text: str) -> list[str]:
    """Items of a comma-separated option, blanks dropped."""
    return [x.strip() for x in text.split(",") if x.strip()]


def bundle_path(graphs: str) -> Path | None:
    """The training bundle ``graphs`` (a ``--graphs`` value: a file path, or empty for none) as a
    path, ``None`` when empty, or a one-line error when the file is missing."""
    from pathlib import Path

    if not graphs:
        return None
    if not Path(graphs).is_file():
        raise fail(f"training bundle {graphs} not found (write one with `semcgcnn bundle {graphs}`)")
    return Path(graphs)
