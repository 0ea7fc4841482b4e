"""The Graph API simulator as one ASGI app.

The business side speaks the documented Graph API: `POST /{version}/me/messages` (Messenger
Send API, page token), `GET /{version}/me?fields=recipient&account_linking_token=…`,
`POST /{version}/me/unlink_accounts`, `POST /{version}/{phone_number_id}/messages` (WhatsApp
Cloud API, access token). Tokens come as `Authorization: Bearer` or `access_token`. The person
side is the conversation page (`/`) and its small JSON API under `/sim/`; test hooks are
methods of `app.state.graph` (`GraphSim`).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ledgerlink.sandbox.graph.config import GraphSimConfig
from ledgerlink.sandbox.graph.model import MESSENGER, WHATSAPP, GraphFault
from ledgerlink.sandbox.graph.sim import GraphSim

__all__ = ["create_graph_app"]

_HERE = Path(__file__).parent
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates"), autoescape=True)
_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
}


def _fault(exc: GraphFault) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def _token(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query_params.get("access_token", "")


def _authorised(request: Request, expected: str) -> bool:
    return hmac.compare_digest(_token(request).encode(), expected.encode())


_BAD_TOKEN = GraphFault(190, "Invalid OAuth access token - Cannot parse access token", status=401)


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise GraphFault(100, "(#100) the body is not JSON") from None


def create_graph_app(config: GraphSimConfig) -> FastAPI:
    sim = GraphSim(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    app = FastAPI(
        title="Graph API simulator (not Meta)",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.graph = sim
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="graph-static")

    @app.exception_handler(GraphFault)
    async def on_fault(_: Request, exc: GraphFault) -> Response:
        return _fault(exc)

    # ------------------------------------------------------------------ the Graph API

    @app.post("/{version}/me/messages")
    async def messenger_send(version: str, request: Request) -> Response:
        if not _authorised(request, config.messenger_page_token):
            return _fault(_BAD_TOKEN)
        return JSONResponse(sim.messenger_send(await _json(request)))

    @app.get("/{version}/me")
    async def me(
        version: str, request: Request, fields: str = "", account_linking_token: str = ""
    ) -> Response:
        if not _authorised(request, config.messenger_page_token):
            return _fault(_BAD_TOKEN)
        if fields != "recipient" or not account_linking_token:
            return JSONResponse({"id": config.page_id, "name": config.page_name})
        return JSONResponse({"id": config.page_id, "recipient": sim.psid_for(account_linking_token)})

    @app.post("/{version}/me/unlink_accounts")
    async def unlink_accounts(version: str, request: Request) -> Response:
        if not _authorised(request, config.messenger_page_token):
            return _fault(_BAD_TOKEN)
        body = await _json(request)
        psid = body.get("psid") if isinstance(body, dict) else None
        if not isinstance(psid, str):
            raise GraphFault(100, "(#100) psid is required")
        return JSONResponse(sim.unlink(psid))

    @app.post("/{version}/{phone_number_id}/messages")
    async def whatsapp_send(version: str, phone_number_id: str, request: Request) -> Response:
        if not _authorised(request, config.whatsapp_access_token):
            return _fault(_BAD_TOKEN)
        if phone_number_id != config.phone_number_id:
            raise GraphFault(100, "(#100) Unknown phone number id", status=400)
        return JSONResponse(sim.whatsapp_send(await _json(request)))

    # ------------------------------------------------------------------ the person's side

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request, platform: str = MESSENGER, user: str = "pat") -> Response:
        platform = WHATSAPP if platform == WHATSAPP else MESSENGER
        person = sim.world.user(user)
        html = _env.get_template("conversation.html").render(
            base=request.scope.get("root_path", ""),
            platform=platform,
            user=person,
            business_number=config.business_number,
            page_name=config.page_name,
        )
        return HTMLResponse(html, headers=_HEADERS)

    @app.get("/sim/api/state")
    async def state(platform: str = MESSENGER, user: str = "pat") -> Response:
        person = sim.world.user(user)
        return JSONResponse(
            {
                "platform": platform,
                "user": {
                    "key": person.key,
                    "name": person.name,
                    "number": person.wa_id,
                    "linked": person.linked,
                },
                "subscribed": sim.world.subscribed.get(platform),
                "entries": [e.public() for e in sim.world.conversation(platform, person.key)],
            },
            headers={"cache-control": "no-store"},
        )

    @app.post("/sim/api/say")
    async def say(request: Request) -> Response:
        body = await _json(request)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return JSONResponse({"error": "text is required"}, status_code=422)
        entry = sim.say(_platform(body), str(body.get("user", "pat")), text)
        return JSONResponse({"id": entry.id})

    @app.post("/sim/api/tap")
    async def tap(request: Request) -> Response:
        body = await _json(request)
        index = body.get("index") if isinstance(body, dict) else None
        if not isinstance(index, int):
            return JSONResponse({"error": "index is required"}, status_code=422)
        url = sim.tap(_platform(body), str(body.get("user", "pat")), str(body.get("entry", "")), index)
        return JSONResponse({"open": url})

    @app.post("/sim/api/read")
    async def read(request: Request) -> Response:
        body = await _json(request)
        return JSONResponse({"read": sim.read(_platform(body), str(body.get("user", "pat")))})

    @app.get("/sim/messenger/linked")
    async def linked(
        request: Request, account_linking_token: str = "", authorization_code: str = ""
    ) -> Response:
        """`redirect_uri`: the business sends the browser back here after its login."""
        person = sim.linking_done(account_linking_token, authorization_code or None)
        base = request.scope.get("root_path", "")
        target = f"{base}/?platform=messenger&user={person.key if person else 'pat'}"
        return RedirectResponse(target, status_code=303)

    return app


def _platform(body: Any) -> str:
    return WHATSAPP if isinstance(body, dict) and body.get("platform") == WHATSAPP else MESSENGER
