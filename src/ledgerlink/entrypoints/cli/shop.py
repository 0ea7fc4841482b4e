"""`ledgerlink sandbox-merchant`: the sandbox shop in its own process (issue 11), as `ledgerlink
sandbox` runs the sandbox bank. It pays through that bank over HTTP (its admin token from the
registration file in the data dir) and signs its events to the platform with the secret the
platform reads from the same data dir (`sandbox-shops.json`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn

from ledgerlink.bootstrap.sandbox import build_standalone_shop_app
from ledgerlink.config import Settings
from ledgerlink.domain.clock import SystemClock
from ledgerlink.entrypoints.cli._console import console

__all__ = ["sandbox_merchant"]


def sandbox_merchant(
    host: Annotated[str, typer.Option(help="interface to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port of the shop")] = 8003,
    data_dir: Annotated[Path, typer.Option(help="the data dir shared with the platform and the bank")] = Path(
        ".ledgerlink"),
    platform_url: Annotated[str, typer.Option(help="the platform's public URL")] = "http://127.0.0.1:8000",
    bank_url: Annotated[str, typer.Option(help="the sandbox bank's URL")] = "http://127.0.0.1:8001",
    simulate: Annotated[bool, typer.Option(help="parcels move by themselves on the clock")] = True,
    speed: Annotated[float, typer.Option(help="parcel speed factor (1: 8 h a step)", min=0.01)] = 1.0,
) -> None:
    """Run the sandbox shop (storefront, cart, checkout with the sandbox bank card) on its own."""
    settings = Settings(data_dir=data_dir, public_url=platform_url, sandbox_simulate=simulate,
                        sandbox_speed=speed)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    shop_url = f"http://{host}:{port}"

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            app = build_standalone_shop_app(settings, bank_url=bank_url, shop_url=shop_url,
                                            clock=SystemClock(), http=http)
            console.print(f"Sandbox shop {app.state.shop.config.name} on {shop_url}/shop "
                          f"(paying at {bank_url}, events to {platform_url})")
            server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                   access_log=False, lifespan="on"))
            await server.serve()

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop
        asyncio.run(main())
