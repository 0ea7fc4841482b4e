"""The sandbox bank as one ASGI app: OAuth server, data API, portal, simulator, event push."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledgerlink.sandbox._api import router as api_router
from ledgerlink.sandbox._dialogue_api import router as dialogue_router
from ledgerlink.sandbox._model import Problem
from ledgerlink.sandbox._web import Sessions
from ledgerlink.sandbox._web import router as web_router
from ledgerlink.sandbox.bank import SandboxBank
from ledgerlink.sandbox.config import SandboxConfig


def problem_response(status: int, code: str, title: str, detail: str) -> JSONResponse:
    headers = {"cache-control": "no-store"}
    if status == 401:
        headers["www-authenticate"] = f'Bearer error="invalid_token", error_description="{code}"'
    return JSONResponse({"type": f"urn:ledgerlink:sandbox:problem:{code}", "title": title,
                         "status": status, "detail": detail, "code": code},
                        status_code=status, media_type="application/problem+json",
                        headers=headers)


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    """Build the app; `app.state.bank` is the `SandboxBank`. The lifespan starts the
    simulator (if `config.simulate`) and the webhook delivery worker."""
    bank = SandboxBank(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await bank.start()
        try:
            yield
        finally:
            await bank.stop()

    app = FastAPI(title="Ledgerlink sandbox bank", version="1", lifespan=lifespan,
                  docs_url="/sandbox/docs", redoc_url=None, openapi_url="/sandbox/openapi.json")
    app.state.bank = bank
    sessions = Sessions(bank)
    app.state.sessions = sessions

    @app.exception_handler(Problem)
    async def on_problem(_: Request, exc: Problem) -> Response:
        return problem_response(exc.status, exc.code, exc.title, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem_response(422, "invalid_request", "Invalid request",
                                f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> Response:
        return problem_response(exc.status_code, "not_found" if exc.status_code == 404
                                else "http_error", str(exc.detail), str(exc.detail))

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/portal", status_code=303)

    app.include_router(dialogue_router(bank))  # first: /sandbox/simulate/fraud
    app.include_router(api_router(bank))
    app.include_router(web_router(bank, sessions))
    return app
