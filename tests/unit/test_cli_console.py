"""CLI text is printed whole: Rich would otherwise wrap it at the terminal's width, or at 80
columns (or $COLUMNS) when the output is no terminal, as in CI, splitting phrases mid-way."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from ledgerlink.entrypoints.cli import app
from ledgerlink.entrypoints.cli._console import console


def test_an_error_naming_a_long_path_stays_on_one_line(tmp_path: Path) -> None:
    nowhere = tmp_path.joinpath(*["far-away-directory"] * 20)  # longer than any terminal
    result = CliRunner().invoke(app, ["audit", "verify", "--data-dir", str(nowhere)])
    assert result.exit_code == 2
    line = f"error: no database at {nowhere / 'ledgerlink.db'}; pass --data-dir or --database-url"
    assert line in result.output.splitlines()


def test_every_command_prints_through_the_one_soft_wrapping_console() -> None:
    from ledgerlink.entrypoints.cli import audit, commands, keys, partners

    assert console.soft_wrap
    assert all(module.console is console for module in (audit, commands, keys, partners))


def test_tables_are_not_cropped_when_the_output_is_no_terminal() -> None:
    from rich.table import Table

    from ledgerlink.entrypoints.cli._console import NO_TERMINAL_WIDTH

    root = "ab" * 32  # a 64-character root hash
    table = Table("what", "value", "finding")
    table.add_row("Root hash", root, "checkpoint_head_missing")
    with console.capture() as captured:
        console.print(table)
    assert console.width == NO_TERMINAL_WIDTH  # pytest's stdout is no terminal
    assert root in captured.get() and "checkpoint_head_missing" in captured.get()
