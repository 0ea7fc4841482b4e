"""`ledgerlink audit`: verify the tamper-evident audit log, and sign its current head.

`verify` compares the database with the checkpoint file (`<data_dir>/audit-checkpoints`, the
signed heads kept outside it, ADR 0020) unless told otherwise. Exit codes: 0 the log is intact,
1 tampering was found (each finding names the entry or tree head and the check that failed),
2 the input was unusable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ledgerlink.adapters.checkpoints import CHECKPOINT_FILE, FileCheckpointLog
from ledgerlink.adapters.crypto.envelope import MasterKeyFileError
from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.adapters.db.engine import create_engine, is_sqlite, normalise_url
from ledgerlink.adapters.db.uow import SqlUnitOfWorkFactory
from ledgerlink.config import Settings
from ledgerlink.domain.audit import TreeHead
from ledgerlink.domain.checkpoint import origin_for
from ledgerlink.domain.clock import Clock, SystemClock
from ledgerlink.domain.errors import DomainError
from ledgerlink.entrypoints.cli._console import console
from ledgerlink.services.kernel.ports import Signer
from ledgerlink.services.kernel.uow import UnitOfWorkFactory
from ledgerlink.services.privacy import audit
from ledgerlink.services.privacy.ports import CheckpointLog

app = typer.Typer(no_args_is_help=True)

DataDirOpt = Annotated[Path, typer.Option(help="where the database and key files live")]
DatabaseOpt = Annotated[str | None, typer.Option(help="default: SQLite in the data dir")]
T = TypeVar("T")


@dataclass(frozen=True)
class _LogDeps:
    uow: UnitOfWorkFactory
    signer: Signer
    clock: Clock
    checkpoints: CheckpointLog | None


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _run(
    data_dir: Path,
    database_url: str | None,
    work: Callable[[_LogDeps], Awaitable[T]],
    *,
    checkpoints: Path | None = None,
    compare: bool = True,
) -> T:
    """Open the existing database and signing key (never create them) and run `work`, with the
    checkpoint file (`checkpoints`, default the data dir's; none when not `compare`)."""
    settings = Settings(data_dir=data_dir, database_url=database_url)
    url = settings.resolved_database_url
    if is_sqlite(url):
        path = make_url(normalise_url(url)).database
        if not path or not Path(path).is_file():
            _fail(f"no database at {path}; pass --data-dir or --database-url")
    key_file = settings.data_dir / "signing.key"
    if not key_file.is_file():
        _fail(f"no signing key at {key_file}; pass the platform's --data-dir")
    try:
        signer = SigningKeys(key_file)
    except (MasterKeyFileError, OSError, ValueError) as exc:
        _fail(f"cannot use the signing key: {exc}")

    log = None
    if compare:
        log = FileCheckpointLog(
            checkpoints or settings.data_dir / CHECKPOINT_FILE,
            default_origin=origin_for(settings.resolved_public_url),
        )

    async def main() -> T:
        engine = create_engine(url, pool_size=1)
        try:
            uow = SqlUnitOfWorkFactory(engine)
            return await work(_LogDeps(uow=uow, signer=signer, clock=SystemClock(), checkpoints=log))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except SQLAlchemyError as exc:
        _fail(f"cannot read the audit log ({type(exc).__name__}); is the database migrated?")
    except DomainError as exc:
        _fail(f"{exc.detail} ({exc.code})")
    except OSError as exc:
        _fail(f"cannot use the checkpoint file: {exc.strerror or type(exc).__name__}")


def _load_head(path: Path) -> TreeHead:
    try:
        return TreeHead.from_dict(json.loads(path.read_text()))
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}")
    except ValueError as exc:
        _fail(f"{path} is not a saved tree head: {exc}")


@app.command()
def verify(
    data_dir: DataDirOpt = Path(".ledgerlink"),
    database_url: DatabaseOpt = None,
    tree_head: Annotated[
        Path | None, typer.Option(help="a tree head saved earlier: check the log still extends it")
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="checkpoints to compare with (default: <data-dir>/audit-checkpoints; "
                          "a monitor's copy of /audit/tree-head/history works too)"),
    ] = None,
    no_checkpoints: Annotated[
        bool, typer.Option("--no-checkpoints", help="do not compare with any checkpoint file")
    ] = False,
    unsigned_grace: Annotated[
        float | None,
        typer.Option(help="seconds an entry may wait for a signed head "
                          "(default: twice the signing interval and a minute)", min=0),
    ] = None,
) -> None:
    """Recompute every entry's hash and every signed root, compare with the checkpoints kept
    outside the database; exit 1 if anything was tampered with."""
    saved = None if tree_head is None else _load_head(tree_head)
    if checkpoints is not None and not checkpoints.is_file():
        _fail(f"no checkpoint file at {checkpoints}")
    interval = Settings(data_dir=data_dir).audit_sign_interval_seconds
    grace = timedelta(seconds=2 * interval + 60 if unsigned_grace is None else unsigned_grace)
    report = _run(
        data_dir, database_url,
        lambda deps: audit.verify_log(deps, saved_head=saved, unsigned_grace=grace),
        checkpoints=checkpoints, compare=not no_checkpoints,
    )  # fmt: skip
    summary = Table(title="Audit log", show_header=False)
    summary.add_row("Entries", str(report.entries))
    summary.add_row("Tree size", str(report.tree_size))
    summary.add_row("Root hash", report.root_hash.hex())
    summary.add_row("Signed heads checked", str(report.heads_checked))
    if report.latest_head is not None:
        summary.add_row("Latest signed head", f"{report.latest_head.tree_size} entries")
    summary.add_row("Entries after the latest head", str(report.unsigned_entries))
    summary.add_row("Checkpoints checked", "not compared" if report.checkpoint_file is None
                    else str(report.checkpoints_checked))  # fmt: skip
    if saved is not None:
        summary.add_row("Saved head", f"{saved.tree_size} entries ({tree_head})")
    console.print(summary)
    if report.checkpoint_file is not None:  # a line of its own: a path is never cut
        console.print(f"Checkpoints compared: {report.checkpoint_file}")
    if report.intact:
        console.print("[green]intact[/green]: every entry, signed tree head and checkpoint checks out")
        return
    findings = Table(title="Tampering found", show_lines=False)
    for column in ("check", "entry", "tree head", "what"):
        findings.add_column(column)
    for f in report.findings:
        findings.add_row(
            f.check,
            "" if f.index is None else str(f.index),
            "" if f.tree_size is None else str(f.tree_size),
            f.detail,
        )
    console.print(findings)
    console.print(f"[red]tampered[/red]: {len(report.findings)} finding(s)")
    raise typer.Exit(1)


@app.command("tree-head")
def tree_head(
    data_dir: DataDirOpt = Path(".ledgerlink"),
    database_url: DatabaseOpt = None,
    out: Annotated[Path | None, typer.Option(help="also save the head to this file")] = None,
) -> None:
    """Sign the log's current head (if it grew) and print it; save it to check consistency later."""
    head = _run(data_dir, database_url, audit.sign_tree_head)
    document = json.dumps(head.as_dict(), indent=2)
    if out is not None:
        try:
            out.write_text(document + "\n")
        except OSError as exc:
            _fail(f"cannot write {out}: {exc.strerror}")
    console.print_json(document)
