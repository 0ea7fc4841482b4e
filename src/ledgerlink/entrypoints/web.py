"""The built-in web messenger: sign-in, the thread view, linking and unlinking a bank.

HTML routes catch domain errors themselves and answer with a page or a banner, never a
stack trace. Every form carries the session's CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from ledgerlink.domain.chat import ThreadKind
from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import SESSION_KEY, current_person_id, get_deps
from ledgerlink.entrypoints.rendering import TEMPLATE_DIR, render_message
from ledgerlink.services import linking, messenger
from ledgerlink.services.messenger import ThreadSummary

__all__ = ["router", "templates"]

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATE_DIR)

CSRF_KEY = "csrf"

# Banners for `?notice=<code>`: only known codes get specific words; the query string is
# never echoed back into the page.
NOTICES: dict[str, tuple[str, str]] = {
    "consent_denied": ("info", "You declined the consent at your bank, so nothing was linked."),
    "bank_refused": ("error", "Your bank refused the link request. Nothing was linked."),
    "link_state_unknown": ("error", "That bank link could not be completed. Nothing was linked."),
    "link_state_used": ("info", "That bank link was already completed or cancelled."),
    "link_flow_expired": ("error", "The bank consent took too long and expired. Please start again."),
    "missing_code": ("error", "The bank did not complete the link. Nothing was linked."),
    "no_accounts": ("info", "No accounts were shared, so nothing was linked."),
    "link_not_active": ("info", "This bank is already unlinked."),
    "unlink_failed": ("error", "The bank could not be unlinked just now. Please try again."),
}
GENERIC_NOTICE = ("error", "The bank link did not complete. The message below explains why.")


# --------------------------------------------------------------------------- helpers


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


async def _csrf_ok(request: Request) -> tuple[bool, dict[str, str]]:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    expected = request.session.get(CSRF_KEY)
    offered = fields.get(CSRF_KEY, "")
    ok = isinstance(expected, str) and hmac.compare_digest(expected.encode(), offered.encode())
    return ok, fields


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
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


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _not_found(request: Request, person: Any = None) -> HTMLResponse:
    return _page(request, "error.html", 404, person=person, title="Not found",
                 message="There is nothing here. It may have been removed, or it belongs to "
                         "someone else.")


def _expired_form(request: Request, back: str) -> HTMLResponse:
    return _page(request, "error.html", 400, title="Please try again",
                 message="This form has expired (or was sent from another site). Go back, "
                         "reload the page and try again.", back=back)


async def _signed_in(request: Request) -> tuple[Grant, Any] | None:
    person_id = current_person_id(request)
    if person_id is None:
        return None
    try:
        person = await messenger.get_person(get_deps(request), person_id)
    except DomainError:
        request.session.pop(SESSION_KEY, None)
        return None
    return Grant.for_person(person_id), person


def _ordered(threads: list[ThreadSummary]) -> list[ThreadSummary]:
    return sorted(threads, key=lambda t: (t.kind is not ThreadKind.SYSTEM, not t.active))


# --------------------------------------------------------------------------- sign in / out


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    if current_person_id(request) is not None:
        return _see_other("/")
    return _page(request, "login.html", handle="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    ok, form = await _csrf_ok(request)
    if not ok:
        return _expired_form(request, "/login")
    handle = form.get("handle", "").strip()
    password = form.get("password", "")
    if not handle or not password:
        return _page(request, "login.html", 422, handle=handle,
                     error="Enter your handle and your password.")
    try:
        person_id = await messenger.authenticate(get_deps(request), handle=handle, password=password)
    except DomainError:
        return _page(request, "login.html", 401, handle=handle,
                     error="That handle and password do not match an account.")
    request.session.clear()  # a fresh session (and CSRF token) for the signed-in person
    request.session[SESSION_KEY] = person_id
    return _see_other("/")


@router.get("/register", response_class=HTMLResponse)
async def register_page(request: Request) -> Response:
    if current_person_id(request) is not None:
        return _see_other("/")
    return _page(request, "register.html", values={}, errors={})


@router.post("/register", response_class=HTMLResponse)
async def register(request: Request) -> Response:
    ok, form = await _csrf_ok(request)
    if not ok:
        return _expired_form(request, "/register")
    values = {"handle": form.get("handle", "").strip(),
              "display_name": form.get("display_name", "").strip()}
    password = form.get("password", "")
    errors: dict[str, str] = {}
    if password != form.get("password_confirm", password):
        errors["password_confirm"] = "The two passwords are not the same."
    if not errors:
        try:
            person_id = await messenger.register(get_deps(request), handle=values["handle"],
                                                 display_name=values["display_name"],
                                                 password=password)
        except DomainError as exc:
            field = "password" if exc.code == "weak_password" else "handle"
            message = {"handle_taken": "That handle is taken. Please choose another one.",
                       "bad_handle": "A handle has 2 to 32 characters: lowercase letters, digits, "
                                     "and _ . - (it starts with a letter or digit).",
                       "weak_password": "Use a password with at least 8 characters."}
            errors[field] = message.get(exc.code, exc.detail)
            return _page(request, "register.html", exc.status if exc.status < 500 else 400,
                         values=values, errors=errors)
        request.session.clear()
        request.session[SESSION_KEY] = person_id
        return _see_other("/")
    return _page(request, "register.html", 422, values=values, errors=errors)


@router.post("/logout")
async def logout(request: Request) -> Response:
    ok, _ = await _csrf_ok(request)
    if not ok:
        return _expired_form(request, "/")
    request.session.clear()
    return _see_other("/login")


# --------------------------------------------------------------------------- the messenger


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, notice: str | None = None) -> Response:
    return await _messenger(request, None, notice, home=not notice)


@router.get("/threads/{thread_id}", response_class=HTMLResponse)
async def thread_page(request: Request, thread_id: str, notice: str | None = None) -> Response:
    return await _messenger(request, thread_id, notice)


async def _messenger(request: Request, thread_id: str | None, notice: str | None, *,
                     home: bool = False) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/login")
    grant, person = signed_in
    deps = get_deps(request)
    # Threads first, then messages: the page's revs are then never ahead of what it shows,
    # and a resume from them may re-send a message but never skip one.
    threads = _ordered(await messenger.list_threads(deps, grant))
    if thread_id is None:
        if not threads:
            return _not_found(request, person)
        thread_id = threads[0].id
    current = next((t for t in threads if t.id == thread_id), None)
    if current is None:
        return _not_found(request, person)
    try:
        views = await messenger.thread_messages(deps, grant, thread_id)
    except NotFound:
        return _not_found(request, person)
    banner = None
    if notice:
        banner = NOTICES.get(notice, GENERIC_NOTICE)
    return _page(request, "messenger.html", person=person, threads=threads, current=current,
                 messages=[Markup(render_message(v)) for v in views],  # noqa: S704 - escaped by the card template
                 notice=banner, home=home)


# --------------------------------------------------------------------------- linking


@router.get("/link", response_class=HTMLResponse)
async def link_page(request: Request) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/login")
    _, person = signed_in
    partners = await messenger.bank_partners(get_deps(request))
    return _page(request, "link.html", person=person, partners=partners, error=None)


@router.post("/link", response_class=HTMLResponse)
async def link_start(request: Request) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/login")
    grant, person = signed_in
    ok, form = await _csrf_ok(request)
    if not ok:
        return _expired_form(request, "/link")
    deps = get_deps(request)
    try:
        url = await linking.start_link(deps, grant, partner_id=form.get("partner_id", ""))
    except DomainError as exc:
        error = ("Please choose one of the banks below." if exc.code in ("bank_not_found", "not_found")
                 else "That bank cannot be reached right now. Please try again in a moment.")
        return _page(request, "link.html", 400 if exc.status < 500 else 502, person=person,
                     partners=await messenger.bank_partners(deps), error=error)
    return _see_other(url)


@router.get("/link/callback")
async def link_callback(request: Request, state: str | None = None, code: str | None = None,
                        error: str | None = None, error_description: str | None = None) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        # The consent round trip ended in a browser without our session: nothing to finish.
        return _see_other("/login")
    grant, _ = signed_in
    try:
        thread_id = await linking.complete_link(get_deps(request), grant, state=state, code=code,
                                                error=error, error_description=error_description)
    except DomainError as exc:
        return _see_other(f"/?notice={exc.code if exc.code in NOTICES else 'link_failed'}")
    return _see_other(f"/threads/{thread_id}")


@router.post("/links/{link_id}/unlink")
async def unlink(request: Request, link_id: str) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/login")
    grant, person = signed_in
    ok, _ = await _csrf_ok(request)
    if not ok:
        return _expired_form(request, "/")
    deps = get_deps(request)
    thread = next((t for t in await messenger.list_threads(deps, grant) if t.link_id == link_id), None)
    if thread is None:
        return _not_found(request, person)
    try:
        await linking.unlink(deps, grant, link_id=link_id)
    except NotFound:
        return _not_found(request, person)
    except DomainError as exc:
        code = exc.code if exc.code in NOTICES else "unlink_failed"
        return _see_other(f"/threads/{thread.id}?notice={code}")
    return _see_other(f"/threads/{thread.id}")
