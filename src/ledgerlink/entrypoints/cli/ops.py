"""`ledgerlink ops ...`: looking at the scale-out profile while it runs (issue 12)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from ledgerlink.adapters.events.dead_letters import read_dead_letters, stream_names
from ledgerlink.config import Settings
from ledgerlink.entrypoints.cli._console import console

app = typer.Typer(no_args_is_help=True)


@app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="show the newest N")] = 50,
    nats_url: Annotated[str | None, typer.Option(help="default: LEDGERLINK_NATS_URL")] = None,
) -> None:
    """The events the workers gave up on (the dead-letter stream): ids, subject, consumer,
    deliveries and an error code. Never their contents."""
    settings = Settings()
    url = nats_url or settings.nats_url
    if not url:
        console.print("[red]error[/red] (no_nats_url): the dead letters live in NATS JetStream; "
                      "set LEDGERLINK_NATS_URL or pass --nats-url")
        raise typer.Exit(2)
    try:
        total, letters = asyncio.run(read_dead_letters(url, settings.nats_root, limit=limit))
    except ConnectionError as exc:
        console.print(f"[red]error[/red] (nats_unreachable): {exc}")
        raise typer.Exit(1) from None
    stream = stream_names(settings.nats_root)[1]
    if not total:
        console.print(f"no dead letters in {stream}")
        return
    table = Table(title=f"{stream}: {total} dead letter(s), newest {len(letters)} shown")
    for column in ("seq", "at (UTC)", "event id", "subject", "consumer", "deliveries", "error"):
        table.add_column(column, overflow="fold")
    for d in letters:
        table.add_row(str(d.seq), d.at.strftime("%Y-%m-%d %H:%M:%S") if d.at else "-", d.event_id,
                      d.subject, d.consumer, "-" if d.deliveries is None else str(d.deliveries), d.reason)
    console.print(table)
