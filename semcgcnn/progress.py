"""The one progress mechanism: rich bars, driven by library code through plain callbacks.

Library functions never draw anything: they take ``progress`` callbacks (``advance(n)``) or a
:class:`Bars` object and call it. :class:`Bars` draws one rich bar per named stage; a disabled
``Bars`` (or :data:`QUIET`) accepts the same calls and draws nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[..., None]
"""``advance(n=1, info=None)``: move a bar ``n`` steps, optionally replacing its info text."""


class Bars:
    """Rich progress bars, one per stage, on stderr (so tables on stdout stay clean)."""

    def __init__(self, enabled: bool = True, console: Console | None = None):
        self._progress = Progress(
            TextColumn("[bold]{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            disable=not enabled,
        )

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def stage(self, description: str, total: int | None, completed: int = 0) -> Advance:
        """Add a bar and return its ``advance`` callback (``total`` None: not known in advance)."""
        task = self._progress.add_task(description, total=total, completed=completed, info="")

        def advance(n: int = 1, info: str | None = None) -> None:
            self._progress.update(task, advance=n, **({"info": info} if info is not None else {}))

        return advance

    def complete(self) -> None:
        """Fill every bar (work served from a cache completes at once)."""
        for task in self._progress.tasks:
            self._progress.update(task.id, completed=task.total)


QUIET = Bars(enabled=False)
"""Bars that draw nothing: the default of every library function that reports progress."""


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Advance]:
    """One bar of ``total`` steps for a ``with`` block; completes it at the end (work served
    from a cache completes at once)."""
    with Bars(enabled) as bars:
        advance = bars.stage(description, total)
        yield advance
        bars.complete()
