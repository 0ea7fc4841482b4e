"""The one console every `ledgerlink` command prints through.

`soft_wrap`: Rich otherwise wraps text at the terminal's width, or at 80 columns (or $COLUMNS)
when the output is no terminal (a pipe, a CI log), splitting messages and paths mid-phrase.
Text lines are printed whole; the terminal, if any, wraps them.
"""

from __future__ import annotations

from rich.console import Console

console = Console(soft_wrap=True)
