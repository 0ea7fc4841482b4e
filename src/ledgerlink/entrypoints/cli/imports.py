"""`ledgerlink import PATH...`: statement files into a person's accounts (docs/imports.md).

Exit status: 0 every file imported; 1 some file failed (or waits for a confirmation) with a
clear error; 2 bad usage (unknown person, bad option). With `--json`, one JSON object per file
on stdout; messages and the progress bar (a terminal only) go to stderr.

Works on the data directory of a running `ledgerlink demo` / `serve`: SQLite in WAL mode lets
this process write while the server reads, and the busy timeout queues the two writers. The
server's live connections are not told (its bus lives in its process): the summary card shows
in the thread when it is next loaded.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ledgerlink.bootstrap import bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.events import Event
from ledgerlink.domain.money import CURRENCIES
from ledgerlink.domain.privacy import Grant
from ledgerlink.domain.statements import DateOrder, ReadOptions, StatementFormat
from ledgerlink.services.imports.results import ImportResult, ImportStatus, Needs, Proposal
from ledgerlink.services.kernel.bus import Handler

LARGE = 2000  # entries: files this big get a progress bar (on a terminal)


class FormatChoice(enum.StrEnum):
    AUTO = "auto"
    OFX = "ofx"
    QFX = "qfx"
    QIF = "qif"
    CSV = "csv"
    CAMT = "camt"
    MT940 = "mt940"


class _NoBus:
    """This process only stores: a running server does the live work (its bus is its own), so
    nothing here is delivered twice or from the wrong process."""

    def subscribe(self, event_type: type[Event], handler: Handler) -> None:
        return None

    async def publish(self, event: Event) -> None:
        return None

    async def drain(self) -> None:
        return None


_err = Console(stderr=True, soft_wrap=True, highlight=False)


def _usage(message: str) -> typer.Exit:
    _err.print(f"error (bad_usage): {message}")
    return typer.Exit(2)


@contextmanager
def _progress_bar(name: str) -> Iterator[Any]:
    """A callback for the importer: a bar on stderr for large files on a terminal, else nothing."""
    state: dict[str, Any] = {}
    interactive = _err.is_terminal

    def update(done: int, total: int) -> None:
        if not interactive or total < LARGE:
            return
        if "bar" not in state:
            bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeRemainingColumn(), console=_err, transient=True)
            bar.start()
            state["bar"], state["task"] = bar, bar.add_task(name, total=total)
        state["bar"].update(state["task"], completed=done)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()


def _explain(result: ImportResult) -> str:
    if result.status is ImportStatus.IMPORTED:
        return (f"{result.file}: imported {result.entries} ({result.added} added, {result.merged} merged, "
                f"{result.skipped} skipped)" + (f"\n  {result.summary}" if result.summary else ""))
    if result.status is ImportStatus.FAILED and result.error is not None:
        return f"{result.file}: error ({result.error.code}): {result.error.detail}"
    if result.needs is Needs.DATE_ORDER:
        orders = " or ".join(result.date_orders)
        return (f"{result.file}: the dates fit more than one order ({orders}); nothing stored. "
                "Say which: --date-order")
    lines = [f"{result.file}: which account is it? Nothing stored."]
    for p in result.proposals:
        about = " ".join(x for x in (f"••{p.last4 or '?'}", p.currency, p.type) if x)
        what = f"statement {p.statement + 1} ({about})"
        if p.proposal is Proposal.CONFIRM:
            lines.append(f"  {what}: may be {', '.join(p.candidates)}: pass --account ID (or --yes if one)")
        elif p.proposal is Proposal.CREATE:
            lines.append(f"  {what}: no such account yet: --yes creates '{p.name}'")
    return "\n".join(lines)


async def _run(
    paths: list[Path], *, person: str, account: str | None, options: ReadOptions, settings: Settings,
    confirm: bool, as_json: bool,
) -> int:
    container = await bootstrap(settings, bus=_NoBus())
    try:
        importer = container.imports
        assert importer is not None
        async with container.deps.uow(readonly=True) as uow:
            record = await uow.persons.by_handle(person)
        if record is None or record.erased_at is not None:
            raise _usage(f"no person with handle {person!r} in {settings.data_dir}")
        grant = Grant.for_component(record.id, "import_cli")
        failed = False
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError as exc:
                result = ImportResult.failed(path.name, DomainError(
                    f"cannot read {path}: {exc.strerror or type(exc).__name__}", code="unreadable_file"))
            else:
                with _progress_bar(path.name) as progress:
                    result = await importer.import_file(
                        grant, data, filename=path.name, options=options, account_id=account, confirm=confirm,
                        progress=progress,
                    )
            failed = failed or result.status is not ImportStatus.IMPORTED
            if as_json:
                sys.stdout.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
                sys.stdout.flush()
            else:
                _err.print(("✓ " if result.status is ImportStatus.IMPORTED else "✗ ") + _explain(result))
        return 1 if failed else 0
    finally:
        with suppress(Exception):
            await container.stop()


def _quiet_logs() -> None:
    """stdout carries the JSON lines only: warnings and errors go to stderr."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def import_files(
    paths: Annotated[list[Path], typer.Argument(help="statement files (OFX/QFX, QIF, CSV, camt.05x, MT940)",
                                                 show_default=False)],
    person: Annotated[str, typer.Option(help="the person's handle (the demo's: demo)", show_default=False)],
    account: Annotated[str | None, typer.Option(help="the account id a one-statement file is about")] = None,
    format: Annotated[FormatChoice, typer.Option("--format", help="the files' format")] = FormatChoice.AUTO,
    date_order: Annotated[DateOrder | None, typer.Option(help="how numeric dates read (QIF, CSV)")] = None,
    currency: Annotated[str | None, typer.Option(help="for files that do not say (QIF, CSV)")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="accept the proposed account")] = False,
    data_dir: Annotated[Path, typer.Option(help="where the database and keys live")] = Path(".ledgerlink"),
    database_url: Annotated[str | None, typer.Option(help="default: SQLite in the data dir")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per file on stdout")] = False,
) -> None:
    """Import bank statement files: each whole or not at all, matched with what is already there."""
    if currency is not None:
        currency = currency.strip().upper()
        if currency not in CURRENCIES:
            raise _usage(f"--currency {currency!r} is not an ISO 4217 code")
    if not (data_dir / "ledgerlink.db").exists() and database_url is None:
        raise _usage(f"{data_dir} holds no ledgerlink database (start `ledgerlink demo` or `serve` once)")
    options = ReadOptions(
        format=None if format is FormatChoice.AUTO else StatementFormat(format.value),
        date_order=date_order, currency=currency,
    )  # fmt: skip
    settings = Settings(data_dir=data_dir, database_url=database_url, embedded_sandbox=False)
    _quiet_logs()
    try:
        status = asyncio.run(_run(list(paths), person=person, account=account, options=options,
                                  settings=settings, confirm=yes, as_json=as_json))
    except typer.Exit:
        raise
    except DomainError as exc:
        _err.print(f"error ({exc.code}): {exc.detail}")
        raise typer.Exit(1) from None
    except Exception as exc:  # never a traceback: what failed, in one line
        _err.print(f"error (import_failed): the import stopped on an unexpected {type(exc).__name__}; "
                   "nothing of the file being imported was stored")
        raise typer.Exit(1) from None
    raise typer.Exit(status)
