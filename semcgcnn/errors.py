"""The one base class of the mistakes a user can make: :class:`UserError`."""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in the user's input (a file, a folder, an option, a checkpoint, a data source),
    reported as one line: the message says what is wrong and, where it helps, what to do instead.

    Every user-facing error class of the package derives from it; the command line prints any
    ``UserError`` as ``error: MESSAGE`` with no traceback (``semcgcnn.cli.common.one_line_errors``).
    A ``ValueError``, so code that catches bad values keeps catching it."""
