"""Errors as RFC 9457 problem documents with a stable `code`: mapped here, and only here.

A browser (a request whose Accept names text/html before any JSON) gets a friendly HTML page
for a missing page, a wrong method or a crash instead (issue 13); API clients, fetch and
anything else keep the problem document."""

from __future__ import annotations

import json
from html import escape
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from ledgerlink.adapters.db.outage import RETRY_AFTER, store_unavailable
from ledgerlink.domain.errors import DomainError, TooManyRequests

log = structlog.get_logger(__name__)

PROBLEM_TYPE_BASE = "https://ledgerlink.dev/problems/"  # documentation anchor, not fetched
STORE_UNAVAILABLE = "the database cannot be reached right now; nothing was stored, send it again later"


def _document(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        _document(status, code, detail, **extra), status_code=status, media_type="application/problem+json"
    )


def problem_body(status: int, code: str, detail: str, **extra: Any) -> bytes:
    """The same document as raw JSON bytes, for raw ASGI handlers."""
    return json.dumps(_document(status, code, detail, **extra)).encode()


PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "RFC 9457 problem document",
    "content": {
        "application/problem+json": {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["type", "title", "status", "code"],
            }
        }
    },
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """What a 405 must name in `Allow` (RFC 9110 section 15.5.6): every method some route of
    this path answers, not only those of the first route the router tried (GET and POST are
    often two routes). Asked of the routes themselves (`matches`, also through included
    routers); the mounted static directory answers GET and HEAD."""
    routes = request.app.router.routes
    allowed: set[str] = set()
    for route in routes:
        if isinstance(route, Mount) and route.matches(dict(request.scope))[0] is not Match.NONE:
            allowed |= {"GET", "HEAD"}
    for method in _METHODS:
        probe = {**request.scope, "method": method}
        if any(not isinstance(r, Mount) and r.matches(probe)[0] is Match.FULL for r in routes):
            allowed.add(method)
    return ", ".join(m for m in _METHODS if m in allowed)


_PAGES = {
    404: ("Page not found", "There is nothing at this address. It may have moved, or the link is mistyped."),
    405: ("That did not work", "This page cannot be used that way. Go back and try again from the page."),
    500: ("Something went wrong", "Something went wrong on our side, and nothing was half-done. Please try "
          "again in a moment."),
    503: ("Back in a moment", "We cannot reach our records right now, and nothing was changed. Please "
          "try again in a minute."),
}


def wants_html(request: Request) -> bool:
    """True for a browser navigating: text/html accepted, and no JSON asked for."""
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept and "json" not in accept


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Ledgerlink</title><link rel="stylesheet" href="/static/messenger.css"></head>
<body class="auth-page"><main class="auth"><div class="auth-card" data-testid="error-page">
<p class="muted" data-testid="error-status">Error {status}</p><h2>{title}</h2><p>{message}</p>
<p><a class="btn btn-primary" href="/">Go to Ledgerlink</a></p></div></main></body></html>
"""


def friendly_page(request: Request, status: int) -> Response | None:
    """The HTML error page for a browser, or None to answer with the problem document. Built
    here, not from the web templates: every kind of entry point uses this module."""
    if status not in _PAGES or not wants_html(request):
        return None
    title, message = _PAGES[status]
    body = _PAGE.format(title=escape(title), message=escape(message), status=status)
    return HTMLResponse(body, status_code=status, headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"})


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def on_domain_error(_: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, TooManyRequests):  # throttled (entrypoints/throttling.py)
            throttled = problem(exc.status, exc.code, exc.detail, retry_after=exc.retry_after)
            throttled.headers["Retry-After"] = str(exc.retry_after)
            return throttled
        return problem(exc.status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return problem(422, "validation_error", "the request did not match the expected shape", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        # 400: the framework could not parse the body (not JSON, not UTF-8)
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed",
                401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        response = friendly_page(request, exc.status_code) or problem(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            allow = allowed_methods(request) or response.headers.get("Allow")
            if allow:
                response.headers["Allow"] = allow
        return response

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        if store_unavailable(exc):  # PostgreSQL down or restarting (issue 12): not a defect
            log.warning("store_unavailable", error_type=type(exc).__name__)
            down = friendly_page(request, 503) or problem(503, "store_unavailable", STORE_UNAVAILABLE,
                                                          retry_after=RETRY_AFTER)
            down.headers["Retry-After"] = str(RETRY_AFTER)
            return down
        log.error("unhandled_error", error_type=type(exc).__name__)
        return friendly_page(request, 500) or problem(
            500, "internal_error", "something went wrong on our side; nothing was half-done"
        )
