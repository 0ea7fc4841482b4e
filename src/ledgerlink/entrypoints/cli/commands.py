"""The `ledgerlink` command: its groups wired together, the commands that run the platform
(demo, serve, sandbox) and database maintenance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import structlog
import typer
import uvicorn
from rich.table import Table

from ledgerlink.bootstrap import SANDBOX_BANKS, Container, bootstrap, build_sandbox_app
from ledgerlink.bootstrap.scaleout import ROLES, parse_roles  # --role (issue 12)
from ledgerlink.config import Settings
from ledgerlink.domain.clock import SystemClock
from ledgerlink.domain.errors import Conflict, DomainError
from ledgerlink.entrypoints.cli import audit, imports, keys, ops, partners, receipts, shop
from ledgerlink.entrypoints.cli._console import console
from ledgerlink.entrypoints.readiness import PartnersWaitUntilReady  # NATS profile (issue 12)

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Ledgerlink: your bank accounts, in your messenger."
)
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
app.add_typer(db_app, name="db")
app.add_typer(audit.app, name="audit", help="Verify the tamper-evident audit log.")
app.add_typer(receipts.app, name="receipt", help="Verify consent receipts offline.")
app.add_typer(keys.app, name="keys", help="Manage encryption and signing keys.")
app.add_typer(partners.app, name="partners", help="Partner API keys and privacy budgets.")
app.add_typer(ops.app, name="ops", help="The scale-out profile while it runs: dead letters (issue 12).")
app.command("import")(imports.import_files)  # statement files (docs/imports.md)
app.command("sandbox-merchant")(shop.sandbox_merchant)  # the sandbox shop on its own (issue 11)

DEMO_HANDLE = "demo"
DEMO_PASSWORD = "ledgerlink sandbox"  # >= 12 characters, not the handle (domain/passwords.py)

HostOpt = Annotated[str, typer.Option(help="interface to listen on (loopback by default)")]
PortOpt = Annotated[int, typer.Option(help="port of the messenger")]
DataDirOpt = Annotated[Path, typer.Option(help="where the database and key files live")]


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
    )


def _server(app_: Any, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(app_, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    )


async def _serve(
    container: Container, *, with_demo_person: bool, roles: frozenset[str] = frozenset(ROLES)
) -> None:
    from ledgerlink.entrypoints.app import create_app
    from ledgerlink.services.messaging import messenger

    settings = container.settings
    # Roles (issue 12): api and gateway serve HTTP and WebSockets; the container starts what
    # its roles run (Container.start: only the worker role applies the inbox and runs the
    # workers and periodic tasks). `all` (the default) is the one process of the embedded default.
    if not roles & {"api", "gateway"}:
        await _work(container)
        return
    app_: Any = create_app(container)  # its lifespan starts and stops the container
    bus: Any = container.deps.bus
    if hasattr(bus, "ready"):  # NATS profile: partners wait until the bus is up (readiness.py)
        app_ = PartnersWaitUntilReady(app_, ready=lambda: bool(bus.ready))
    servers = [_server(app_, settings.host, settings.port)]
    if container.sandbox_app is not None and "api" in roles:
        servers.append(_server(container.sandbox_app, settings.host, settings.resolved_sandbox_port))
    if container.sandbox2 is not None and "api" in roles:
        servers.append(_server(container.sandbox_apps[SANDBOX_BANKS[1].partner_id], settings.host,
                               settings.resolved_second_sandbox_port))
    if with_demo_person:
        with contextlib.suppress(Conflict):
            await messenger.register(
                container.deps, handle=DEMO_HANDLE, display_name="Demo Person", password=DEMO_PASSWORD
            )
    _banner(container, with_demo_person=with_demo_person)
    await asyncio.gather(*(s.serve() for s in servers))


async def _work(container: Container) -> None:
    """The worker role alone: no HTTP, the container's workers until interrupted (issue 12)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # as uvicorn does for the web roles
        loop.add_signal_handler(sig, stop.set)
    await container.start()
    console.print("ledgerlink worker is running. Press Ctrl+C to stop.")
    try:
        await stop.wait()
    finally:
        await container.stop()


def _banner(container: Container, *, with_demo_person: bool) -> None:
    settings = container.settings
    table = Table(title="ledgerlink is running", show_header=False)
    table.add_row("Messenger", f"{settings.resolved_public_url}/")
    if with_demo_person:
        table.add_row("Messenger login", f"{DEMO_HANDLE} / {DEMO_PASSWORD}")
    if container.sandbox_app is not None:
        table.add_row("Sandbox Bank", settings.resolved_sandbox_url)
        logins = ", ".join(f"{c.login} / {c.password}" for c in container.sandbox.customers)
        table.add_row("Bank logins", logins)
    if container.sandbox2 is not None:
        table.add_row(SANDBOX_BANKS[1].name, settings.resolved_second_sandbox_url)
    for path, shop_app in (("shop", container.shop_app), ("market", container.market_app),
                           ("bistro", container.bistro_app)):  # the sandbox merchants (issue 11)
        if shop_app is not None:
            table.add_row(shop_app.state.shop.config.name, f"{settings.resolved_public_url}/sandbox/{path}/ "
                          "(alice / sandbox; the card is on the bank's portal)")
    table.add_row("Data", str(settings.data_dir.resolve()))
    table.add_row("API docs", f"{settings.resolved_public_url}/docs")
    console.print(table)
    console.print("Press Ctrl+C to stop.")


def _run(coro: Any) -> None:
    try:
        try:
            import uvloop  # installed with uvicorn[standard]; the fastest loop uvicorn supports
        except ImportError:  # pragma: no cover
            asyncio.run(coro)
        else:
            uvloop.run(coro)
    except KeyboardInterrupt:
        pass
    except DomainError as exc:
        console.print(f"[red]error[/red] ({exc.code}): {exc.detail}")
        raise typer.Exit(2) from None


@app.command()
def demo(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    data_dir: DataDirOpt = Path(".ledgerlink/demo"),
    seed: Annotated[int, typer.Option(help="sandbox activity seed")] = 42,
    speed: Annotated[float, typer.Option(help="sandbox activity speed factor")] = 5.0,
) -> None:
    """Everything on the embedded default: SQLite, in-process bus, sandbox bank simulating activity."""
    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir,
        embedded_sandbox=True,
        sandbox_seed=seed,
        sandbox_speed=speed,
        sandbox_simulate=True,
    )
    _configure_logging(settings.log_level)

    async def main() -> None:
        with console.status("Preparing database and keys..."):
            container = await bootstrap(settings, clock=SystemClock())
        await _serve(container, with_demo_person=True)

    _run(main())


def serve_settings(
    *, host: str, port: int, data_dir: Path, sandbox_url: str | None, roles: frozenset[str]
) -> Settings:
    """`serve`'s settings: the options over LEDGERLINK_* variables. The sandbox bank is external
    when `--sandbox-url` or LEDGERLINK_SANDBOX_URL names it (an option given as None must not
    hide the variable), and then neither built-in bank is embedded."""
    given: dict[str, Any] = {"host": host, "port": port, "data_dir": data_dir,
                             "roles": ",".join(sorted(roles))}  # scale-out (issue 12)
    if sandbox_url is not None:
        given["sandbox_url"] = sandbox_url
    settings = Settings(**given)
    if settings.sandbox_url:  # the second built-in bank runs embedded only
        settings = Settings(**given, embedded_sandbox=False, second_sandbox_bank=False)
    return settings


@app.command()
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    data_dir: DataDirOpt = Path(".ledgerlink"),
    sandbox_url: Annotated[str | None, typer.Option(help="an external sandbox bank")] = None,
    role: Annotated[str, typer.Option(
        help="api, worker, gateway (comma-separated) or all: today's single process (issue 12)")] = "all",
) -> None:
    """Run the platform (settings from LEDGERLINK_* environment variables and these options)."""
    try:
        roles = parse_roles(role)
    except ValueError as exc:
        console.print(f"[red]error[/red] (invalid_role): {exc}")
        raise typer.Exit(2) from None
    settings = serve_settings(host=host, port=port, data_dir=data_dir, sandbox_url=sandbox_url, roles=roles)
    if roles != frozenset(ROLES) and not settings.nats_url:
        console.print("[red]error[/red] (invalid_role): --role other than all needs the scale-out "
                      "profile: set LEDGERLINK_NATS_URL (and LEDGERLINK_DATABASE_URL to PostgreSQL)")
        raise typer.Exit(2)
    _configure_logging(settings.log_level)

    async def main() -> None:
        container = await bootstrap(settings)
        await _serve(container, with_demo_person=False, roles=roles)

    _run(main())


@app.command()
def sandbox(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8001,
    data_dir: DataDirOpt = Path(".ledgerlink"),
    platform_url: Annotated[str, typer.Option(help="the platform's public URL")] = "http://127.0.0.1:8000",
    seed: int = 42,
    speed: float = 1.0,
) -> None:
    """Run the sandbox bank on its own (it shares client credentials through the data dir)."""
    from ledgerlink.bootstrap import SandboxCredentials

    settings = Settings(
        data_dir=data_dir,
        public_url=platform_url,
        host=host,
        sandbox_port=port,
        sandbox_seed=seed,
        sandbox_speed=speed,
    )
    _configure_logging(settings.log_level)
    creds = SandboxCredentials.load_or_create(data_dir / "sandbox-client.json")
    sandbox_app = build_sandbox_app(settings, creds, clock=SystemClock())
    console.print(f"Sandbox Bank on http://{host}:{port}")
    _run(_server(sandbox_app, host, port).serve())


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDirOpt = Path(".ledgerlink"),
    database_url: Annotated[str | None, typer.Option(help="default: SQLite in data dir")] = None,
) -> None:
    """Apply database migrations (safe to repeat)."""
    from ledgerlink.adapters.db.migrate import upgrade

    settings = Settings(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    console.print("[green]database is up to date[/green]")


def main() -> None:
    app()
