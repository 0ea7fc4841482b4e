"""The `ledgerlink` command (pyproject's script: `ledgerlink.entrypoints.cli:main`)."""

from ledgerlink.entrypoints.cli.commands import app, main

__all__ = ["app", "main"]
