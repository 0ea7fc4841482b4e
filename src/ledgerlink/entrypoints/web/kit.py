"""Shared pieces of the server-rendered pages: templates, CSRF, security headers, sign-in."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import HTTPConnection

from ledgerlink.domain.errors import DomainError, NotFound, TooManyRequests
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import get_deps, signed_in
from ledgerlink.entrypoints.problems import problem
from ledgerlink.entrypoints.web.rendering import TEMPLATE_DIR, finalize

# `finalize`: no stored text (a lone surrogate, a control or bidi character) can break a page.
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(TEMPLATE_DIR),
                                            autoescape=select_autoescape(), finalize=finalize))

CSRF_KEY = "csrf"


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


async def csrf_ok(request: Request) -> tuple[bool, dict[str, str]]:
    """The form's CSRF token matches the session's, and the browser says the form was posted
    from one of our own pages (`same_origin`)."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    expected = request.session.get(CSRF_KEY)
    offered = fields.get(CSRF_KEY, "")
    ok = isinstance(expected, str) and hmac.compare_digest(expected.encode(), offered.encode())
    return ok and same_origin(request), fields


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return "invalid"
    return f"{parts.scheme}://{parts.hostname}" + ("" if port in (None, default) else f":{port}")


def same_origin(conn: HTTPConnection) -> bool:
    """A browser request comes from a page of the platform's own origin (its public URL): no
    `Sec-Fetch-Site` other than same-origin (or none: typed, bookmarked), and no `Origin` other
    than ours ("null" included). Requests without these headers are not from a browser page,
    which could not be made to send the person's cookie (ADR 0019)."""
    site = conn.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = conn.headers.get("origin")
    return origin is None or _origin(origin) == _origin(get_deps(conn).public_url)


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("person", None)
    context["csrf"] = csrf_token(request)
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def not_found(request: Request, person: Any = None) -> HTMLResponse:
    return page(request, "error.html", 404, person=person, title="Not found",
                 message="There is nothing here. It may have been removed, or it belongs to "
                         "someone else.")


def too_many(request: Request, exc: TooManyRequests, *, person: Any = None,
             template: str = "error.html", **context: Any) -> Response:
    """429 with Retry-After: a problem document for fetch, else `template` (the error page, or
    the form itself with `error`)."""
    response: Response
    if wants_json(request):
        response = problem(429, exc.code, exc.detail, retry_after=exc.retry_after)
    else:
        if template == "error.html":
            context.update(title="Please wait a moment", message=exc.detail)
        response = page(request, template, 429, person=person, **context)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def expired_form(request: Request, back: str) -> HTMLResponse:
    return page(request, "error.html", 400, title="Please try again",
                 message="This form has expired (or was sent from another site). Go back, "
                         "reload the page and try again.", back=back)


async def signed_in_form(request: Request, *, back: str) -> tuple[Grant, Any, dict[str, str]] | Response:
    """For form POSTs: the signed-in person and the CSRF-checked form, or the response to give
    instead (to sign-in, or the expired-form page leading back to `back`)."""
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    ok, form = await csrf_ok(request)
    if not ok:
        return expired_form(request, back)
    grant, person = session
    return grant, person, form


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


FetchAction = Callable[[Grant, dict[str, str]], Awaitable[dict[str, Any] | None]]


async def fetch_action(request: Request, *, back: str, action: FetchAction) -> Response:
    """A form the page posts with fetch (`Accept: application/json`) or plainly without
    JavaScript: sign-in and CSRF checked, then `action(grant, form)`. Its result (None, or a
    JSON body) becomes 204 / the JSON for fetch and a redirect to `back` for a plain form; a
    refusal (`DomainError`) becomes the problem's code and words, 404 for someone else's or an
    unknown thing, or the redirect."""
    form_session = await _fetch_form(request, back=back)
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    try:
        body = await action(grant, form)
    except DomainError as exc:
        return _fetch_failed(request, person, exc, back=back)
    if not wants_json(request):
        return see_other(back)
    return Response(status_code=204) if body is None else JSONResponse(body)


async def _fetch_form(request: Request, *, back: str) -> tuple[Grant, Any, dict[str, str]] | Response:
    """For forms the page posts with fetch (`Accept: application/json`: problems come back as
    JSON) or plainly without JavaScript (redirects and pages): the signed-in person and the
    CSRF-checked form, or the response to give instead."""
    if not wants_json(request):
        return await signed_in_form(request, back=back)
    session = await signed_in(request)
    if session is None:
        return JSONResponse({"code": "unauthorized"}, status_code=401)
    ok, form = await csrf_ok(request)
    if not ok:
        return JSONResponse({"code": "csrf_failed", "detail": "reload the page"}, status_code=400)
    grant, person = session
    return grant, person, form


def _fetch_failed(request: Request, person: Any, exc: DomainError, *, back: str) -> Response:
    """What a fetch-or-form POST answers when the service refused: 404 for someone else's or an
    unknown thing, else the problem's code and words (JSON), or back to `back` (plain form)."""
    if isinstance(exc, NotFound):
        return JSONResponse({"code": "not_found"}, status_code=404) if wants_json(request) \
            else not_found(request, person)
    if isinstance(exc, TooManyRequests):
        return too_many(request, exc, person=person, back=back)
    if wants_json(request):
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)
    return see_other(back)



