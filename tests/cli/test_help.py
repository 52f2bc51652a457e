"""Every command's ``--help`` reads as plain text: no reStructuredText markup from a docstring and
no value type (``<bool>``) beside a flag, which takes no value."""

from __future__ import annotations

import re

import typer.main
from typer.core import TyperOption
from typer.testing import CliRunner

TYPE_TAG = re.compile(r"<bool[^>]*>|BOOLEAN")


def _flags(command) -> list[str]:
    """The first name of each flag of ``command``, and ``--help``."""
    return [p.opts[0] for p in command.params if isinstance(p, TyperOption) and p.is_flag] + ["--help"]


def test_every_help_has_no_rst_markup_and_no_type_beside_a_flag():
    from semcgcnn.cli import app

    group = typer.main.get_command(app)
    # every registered command walked: 13 commands and the label group (run, collect)
    assert len(group.commands) == len(app.registered_commands) + len(app.registered_groups) == 14
    runner = CliRunner()
    pages = {"semcgcnn": (runner.invoke(app, ["--help"], env={"COLUMNS": "200"}), group)}
    for name, command in group.commands.items():
        pages[name] = (runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"}), command)
        for sub, subcommand in getattr(command, "commands", {}).items():
            pages[f"{name} {sub}"] = (
                runner.invoke(app, [name, sub, "--help"], env={"COLUMNS": "200"}),
                subcommand,
            )
    n_flags = 0
    for name, (out, command) in pages.items():
        assert out.exit_code == 0, (name, out.output)
        text = out.stdout
        assert "Show this message and exit." in text, name
        assert "``" not in text, (name, [line for line in text.splitlines() if "``" in line])
        assert not TYPE_TAG.search(text), (name, TYPE_TAG.findall(text))
        for flag in _flags(command):  # each flag's row is there, with no <...> type in it
            start = re.compile(rf"^│[\s*]*{re.escape(flag)}\s")  # the row that names it first
            (row,) = [line for line in text.splitlines() if start.search(line)]
            assert "<" not in row, (name, row)
            n_flags += 1
        # the docstring and option texts themselves, beyond what the page shows
        for help_text in [
            command.help or "",
            *(p.help or "" for p in command.params if isinstance(p, TyperOption)),
        ]:
            assert "``" not in help_text and ":func:" not in help_text and ":class:" not in help_text, (
                name,
                help_text,
            )
    # --help on all 17 pages, --verbose, and the commands' own flags (finetune 1, label 4,
    # predict 1, report 1, screen 2, ship 1)
    assert n_flags >= 17 + 1 + 10
    # the top-level listing shows ship's summary line as plain text
    assert (
        "Train the shipped model on all shipped slab data (by default as the packaged"
        in pages["semcgcnn"][0].stdout
    )
