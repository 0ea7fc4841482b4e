"""The platform's ASGI application."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.sessions import SessionMiddleware

import ledgerlink.web
from ledgerlink.bootstrap import Container
from ledgerlink.bootstrap.scaleout import live_source  # live frames across processes (ADR 0032)
from ledgerlink.entrypoints import metrics as metrics_module
from ledgerlink.entrypoints import problems
from ledgerlink.entrypoints.caching import NoStoreByDefault
from ledgerlink.entrypoints.partner import api as partner_api
from ledgerlink.entrypoints.partner import carriers as partner_carriers  # issue 11: pushed tracking
from ledgerlink.entrypoints.partner import events as partner_events
from ledgerlink.entrypoints.partner import merchants as partner_merchants  # issue 11
from ledgerlink.entrypoints.partner.fastpath import BankEventFastPath
from ledgerlink.entrypoints.public import audit as public_audit
from ledgerlink.entrypoints.readiness import health
from ledgerlink.entrypoints.web import (
    alerts,
    auth,
    channels,
    consent_receipts,
    dialogue,
    imports,  # statement imports from the messenger (issue 10)
    insights,  # the Spending page and charts (issue 13)
    insights_transactions,
    linking,
    live,
    merchant_link,  # linking a shop (ADR 0031)
    messaging,
    platform_channels,
    platform_inbound,
    privacy,
    provider_links,  # bank-data providers (issue 10)
    receipts_answers,  # a doubtful receipt match answered (issue 11)
    receipts_upload,  # a saved order email uploaded into a thread (issue 11)
)
from ledgerlink.entrypoints.web.hub import Hub
from ledgerlink.entrypoints.web.messaging_admission import Admission


def _session_secret(data_dir: Path) -> str:
    path = data_dir / "session.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def create_app(container: Container, *, manage_lifecycle: bool = True) -> NoStoreByDefault:
    """The platform as one ASGI app: bank events are answered in front of the framework (see
    `fastpath`), everything else goes to FastAPI (attributes such as `.state` pass through).
    Outermost, every answer without its own Cache-Control gets `no-store` (`caching`)."""
    app = _fastapi_app(container, manage_lifecycle=manage_lifecycle)
    if "api" not in container.roles:  # a gateway or worker process takes no bank events (issue 12)
        return NoStoreByDefault(app)
    return NoStoreByDefault(BankEventFastPath(app, ingest=container.ingest, limiter=container.deps.limiter))


def _fastapi_app(container: Container, *, manage_lifecycle: bool) -> FastAPI:
    """`manage_lifecycle=False` when the caller starts and stops the container itself."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await container.start()
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()
            if manage_lifecycle:
                await container.stop()

    app = FastAPI(
        title="ledgerlink",
        version="0.1.0",
        description="Privacy-first account linking: your bank accounts, in your messenger.",
        lifespan=lifespan,
    )
    app.state.live_source = live_source(container)  # None on the embedded default
    settings = container.settings
    hub = Hub(container.deps, events=app.state.live_source, admission=Admission(
        concurrent=settings.ws_admission_concurrent, waiting=settings.ws_admission_queue,
        wait=settings.ws_admission_wait_seconds))
    app.state.container = container
    app.state.deps = container.deps
    app.state.hub = hub
    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_secret(container.settings.data_dir),
        session_cookie="ll_session",
        same_site="lax",
        https_only=container.settings.resolved_public_url.startswith("https://"),
    )
    problems.install(app)
    app.mount(
        "/static", StaticFiles(directory=Path(ledgerlink.web.__file__).parent / "static"), name="static"
    )

    async def database() -> None:
        async with container.deps.uow() as uow:
            await uow.partners.all()

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> JSONResponse:
        """Each dependency by name: `database`, and `nats` on the scale-out profile (readiness.py)."""
        status, body = await health(database, container.deps.bus)
        return JSONResponse(body, status_code=status)

    @app.get("/.well-known/jwks.json", tags=["verification"])
    async def jwks() -> JSONResponse:
        """The platform's public signing keys (Ed25519, RFC 8037): verify consent receipts and
        audit tree heads offline."""
        return JSONResponse(container.deps.signer.jwks(), headers={"cache-control": "public, max-age=300"})

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics() -> Response:
        await metrics_module.refresh(container.deps.bus)  # outbox depth, consumer lag (issue 12)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # Each role serves its own front doors (issue 12): `api` the pages, the partner endpoints
    # and ingest; `gateway` the WebSockets. Every process answers /healthz and /metrics.
    if "api" in container.roles:
        app.include_router(partner_events.router)
        app.include_router(partner_merchants.router)  # merchant events (issue 11)
        app.include_router(partner_carriers.router)  # carrier tracking events (issue 11)
        app.include_router(partner_api.router)
        app.include_router(public_audit.router)
        app.include_router(consent_receipts.router)
        app.include_router(privacy.router)
        app.include_router(alerts.router)
        app.include_router(channels.router)
        app.include_router(dialogue.router)  # bank dialogue: quick replies
        app.include_router(receipts_answers.router)  # receipts: "Is this your order?" (issue 11)
        app.include_router(merchant_link.router)  # linking a shop (ADR 0031)
        app.include_router(receipts_upload.router)  # receipts: a .eml uploaded into a thread (issue 11)
        app.include_router(auth.router)  # sign-in, sessions, confirm the password (ADR 0019)
        app.include_router(messaging.router)
        app.include_router(linking.router)
        app.include_router(provider_links.router)  # bank-data providers (issue 10)
        app.include_router(platform_inbound.router)  # Messenger, WhatsApp webhooks (ADR 0023)
        app.include_router(platform_channels.router)  # their account linking and settings
        app.include_router(imports.router)  # statement imports from the messenger (issue 10)
        app.include_router(insights.router)  # the Spending page and charts (issue 13)
        app.include_router(insights_transactions.router)  # a transaction's detail, search (issue 13)
    if container.roles & {"api", "gateway"}:
        app.include_router(live.router)
    if container.graph_simulator_app is not None:  # the Graph API simulator standing in for Meta
        app.mount("/sandbox/graph", container.graph_simulator_app)
    if container.shop_app is not None:  # the embedded sandbox shop (issue 11)
        app.mount("/sandbox/shop", container.shop_app)
    if container.market_app is not None:  # the embedded marketplace Harbor Market (issue 11)
        app.mount("/sandbox/market", container.market_app)
    if container.bistro_app is not None:  # the embedded restaurant Harbor Bistro (issue 11)
        app.mount("/sandbox/bistro", container.bistro_app)
    if container.carrier_app is not None:  # the embedded sandbox carrier (issue 11)
        app.mount("/sandbox/carrier", container.carrier_app)
    for path, simulator in container.provider_simulator_apps.items():  # bank-data providers (issue 10)
        app.mount(path, simulator)
    return app
