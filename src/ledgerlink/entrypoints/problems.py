"""Errors as RFC 9457 problem documents with a stable `code`: mapped here, and only here."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount

from ledgerlink.domain.errors import DomainError, TooManyRequests

log = structlog.get_logger(__name__)

PROBLEM_TYPE_BASE = "https://ledgerlink.dev/problems/"  # documentation anchor, not fetched


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
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400: the framework could not parse the body (not JSON, not UTF-8)
        code = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed",
                401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        response = problem(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            allow = allowed_methods(request) or response.headers.get("Allow")
            if allow:
                response.headers["Allow"] = allow
        return response

    @app.exception_handler(Exception)
    async def on_crash(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", error_type=type(exc).__name__)
        return problem(500, "internal_error", "something went wrong on our side; nothing was half-done")
