"""The one console every `ledgerlink` command prints through.

`soft_wrap`: Rich otherwise wraps text at the terminal's width, or at 80 columns (or $COLUMNS)
when the output is no terminal (a pipe, a CI log), splitting messages and paths mid-phrase.
Text lines are printed whole; the terminal, if any, wraps them.

Tables (audit verify, key lists) cannot soft-wrap: Rich fits them to the console's width and
crops what does not fit, so a 64-character root hash piped to a file came out as `abab…`. On a
terminal they fit the terminal, as they should; anywhere else the width is fixed and wide
enough for every hash and finding code, whatever $COLUMNS says.
"""

from __future__ import annotations

import sys

from rich.console import Console

NO_TERMINAL_WIDTH = 240


def _width() -> int | None:
    try:
        return None if sys.stdout.isatty() else NO_TERMINAL_WIDTH
    except (AttributeError, ValueError):  # stdout replaced or closed
        return NO_TERMINAL_WIDTH


console = Console(soft_wrap=True, width=_width())
