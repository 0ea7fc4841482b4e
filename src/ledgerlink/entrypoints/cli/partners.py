"""`ledgerlink partners ...`: partner API keys and privacy budgets (wired in cli/commands.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from ledgerlink.bootstrap import SANDBOX_BANKS, SandboxCredentials, bootstrap
from ledgerlink.config import Settings
from ledgerlink.domain.errors import DomainError
from ledgerlink.entrypoints.cli._console import console
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.privacy import aggregates

app = typer.Typer(no_args_is_help=True)
T = TypeVar("T")

DataDirOpt = Annotated[Path, typer.Option(help="where the database and key files live")]
DatabaseUrlOpt = Annotated[str | None, typer.Option(help="default: SQLite in the data dir")]


def _with_deps(data_dir: Path, database_url: str | None, work: Callable[[Deps], Awaitable[T]]) -> T:
    """Build the container (migrating the database), run `work`, and stop what was started."""
    settings = Settings(data_dir=data_dir, database_url=database_url, embedded_sandbox=False)

    async def main() -> T:
        container = await bootstrap(settings)
        try:
            return await work(container.deps)
        finally:
            await container.stop()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        console.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
        raise typer.Exit(2) from None


@app.command("api-key")
def api_key(
    slug: Annotated[str, typer.Argument(help="the partner's slug, e.g. sandbox-bank")],
    data_dir: DataDirOpt = Path(".ledgerlink"),
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Create or rotate the partner's API key (the old one stops working). Printed once: only
    its SHA-256 is stored."""
    key = _with_deps(data_dir, database_url, lambda deps: aggregates.issue_api_key(deps, slug))
    builtin = next((b for b in SANDBOX_BANKS if b.slug == slug), None)
    if builtin is not None and (data_dir / builtin.credentials_file).exists():
        # A built-in sandbox bank posts its messages with this key from its next start.
        SandboxCredentials.replace_partner_api_key(data_dir / builtin.credentials_file, key)
    typer.echo(key)


@app.command("budget")
def budget(
    slug: Annotated[str, typer.Argument(help="the partner's slug")],
    epsilon: Annotated[float, typer.Option(help="total epsilon the partner may spend per period")],
    period: Annotated[str, typer.Option(help="budget period (month)")] = "month",
    data_dir: DataDirOpt = Path(".ledgerlink"),
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Set the partner's differential-privacy budget (epsilon per period)."""
    _with_deps(
        data_dir, database_url, lambda deps: aggregates.set_budget(deps, slug, epsilon=epsilon, period=period)
    )
    console.print(f"[green]budget for {slug}: epsilon {epsilon} per {period}[/green]")
