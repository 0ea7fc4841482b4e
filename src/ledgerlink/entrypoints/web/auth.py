"""Signing in and out, signing up, and the password asked again before sensitive actions
(services/auth, ADR 0019).

Sign-in and sign-up are throttled (429 with `Retry-After`, on the form itself); a failed
sign-in says the same words for an unknown handle and a wrong password. Sign-out ends the
server-side session, so a copy of the cookie stops working; "sign out everywhere" ends them
all. Export and adding a channel need the password entered within the last 5 minutes: a GET
(a download) is sent to `/confirm` first, a form asks for it in a `confirm_password` field.

A person with a second factor (ADR 0021) signs in in two steps (`second_step.py`), and confirms
sensitive actions with that factor (a passkey, a code from the app, or a recovery code) instead of
the password; erasure asks for the password and the second factor.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import DomainError, TooManyRequests
from ledgerlink.domain.passwords import MIN_LENGTH, password_problem
from ledgerlink.entrypoints.dependencies import (
    client_address,
    current_session,
    forget_session,
    get_deps,
    session_token,
)
from ledgerlink.entrypoints.web import factors, second_step
from ledgerlink.entrypoints.web.hub import get_hub
from ledgerlink.entrypoints.web.kit import csrf_ok, expired_form, page, see_other, signed_in_form, too_many
from ledgerlink.entrypoints.web.second_step import (
    PENDING_KEY,
    Refusal,
    begin_second_step,
    begin_session,
    confirm_with_factor,
)
from ledgerlink.services.auth import sessions
from ledgerlink.services.auth.second_step import pending as pending_sign_in

__all__ = ["Refusal", "needs_confirmation", "router", "step_up"]

router = APIRouter(include_in_schema=False)
router.include_router(second_step.router)  # the second sign-in step (ADR 0021)
router.include_router(factors.router)  # Security settings, "Protect your account"

BAD_CREDENTIALS = "That handle and password do not match an account."
_HANDLE_WORDS = {"handle_taken": "That handle is taken. Please choose another one.",
                 "bad_handle": "A handle has 2 to 32 characters: lowercase letters, digits, "
                               "and _ . - (it starts with a letter or digit)."}


# The same rule as services/messaging/messenger.register (which checks again): here only to
# show every problem of the form at once (issue 13).
_HANDLE_FORM = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")


def _register_errors(handle: str, password: str, confirm: str) -> dict[str, str]:
    """Every problem of the registration form at once, by field (empty: try to sign up)."""
    errors = {}
    if not handle:
        errors["handle"] = "Choose a handle: it is how you sign in."
    elif not _HANDLE_FORM.match(handle.lower()):
        errors["handle"] = _HANDLE_WORDS["bad_handle"]
    problem = password_problem(password, handle=handle.lower())
    if problem is not None:
        errors["password"] = problem.message
    if password != confirm:
        errors["password_confirm"] = "The two passwords are not the same."
    return errors


# --------------------------------------------------------------------------- sign in / up / out


@router.get("/login", response_class=HTMLResponse)
async def loginpage(request: Request) -> Response:
    if await current_session(request) is not None:
        return see_other("/")
    pending = request.session.get(PENDING_KEY)
    if isinstance(pending, str) and await pending_sign_in(get_deps(request), pending) is not None:
        return see_other("/login/second-step")
    return page(request, "login.html", handle="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    ok, form = await csrf_ok(request)
    if not ok:
        return expired_form(request, "/login")
    handle = form.get("handle", "").strip()
    password = form.get("password", "")
    if not handle or not password:
        return page(request, "login.html", 422, handle=handle,
                    error="Enter your handle and your password.")
    try:
        token = await sessions.sign_in(get_deps(request), handle=handle, password=password,
                                       address=client_address(request))
    except sessions.SecondStepRequired as step:
        return begin_second_step(request, step.token)
    except TooManyRequests as exc:
        return too_many(request, exc, template="login.html", handle=handle, error=exc.detail)
    except DomainError:
        return page(request, "login.html", 401, handle=handle, error=BAD_CREDENTIALS)
    begin_session(request, token)
    return see_other("/")


@router.get("/register", response_class=HTMLResponse)
async def registerpage(request: Request) -> Response:
    if await current_session(request) is not None:
        return see_other("/")
    return page(request, "register.html", values={}, errors={}, min_length=MIN_LENGTH)


@router.post("/register", response_class=HTMLResponse)
async def register(request: Request) -> Response:
    ok, form = await csrf_ok(request)
    if not ok:
        return expired_form(request, "/register")
    values = {"handle": form.get("handle", "").strip(),
              "display_name": form.get("display_name", "").strip()}
    password = form.get("password", "")
    errors = _register_errors(values["handle"], password, form.get("password_confirm", password))
    if errors:
        return page(request, "register.html", 422, values=values, min_length=MIN_LENGTH, errors=errors)
    try:
        token = await sessions.sign_up(get_deps(request), handle=values["handle"],
                                       display_name=values["display_name"], password=password,
                                       address=client_address(request))
    except TooManyRequests as exc:
        return too_many(request, exc, template="register.html", values=values, min_length=MIN_LENGTH,
                        errors={"handle": exc.detail})
    except DomainError as exc:
        field = "password" if exc.code.startswith("password_") else "handle"
        return page(request, "register.html", exc.status if exc.status < 500 else 400,
                    values=values, min_length=MIN_LENGTH,
                    errors={field: _HANDLE_WORDS.get(exc.code, exc.detail)})
    begin_session(request, token)
    return see_other("/protect")  # "Protect your account": a passkey, an app, or later


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Sign out: this session ends on the server (its cookie, or any copy, is dead) and its
    live connections close. The person's other sessions go on."""
    ok, _ = await csrf_ok(request)
    if not ok:
        return expired_form(request, "/")
    session = await current_session(request)
    token = session_token(request)
    if token is not None:
        ended = await sessions.end(get_deps(request), token)
        if session is not None:
            get_hub(request).end_sessions(session.person.id, ended)
    request.session.clear()
    forget_session(request)
    return see_other("/login")


@router.post("/logout/everywhere")
async def logout_everywhere(request: Request) -> Response:
    """Every session of the person ends, this one included (a lost phone, a shared computer)."""
    form_session = await signed_in_form(request, back="/settings")
    if isinstance(form_session, Response):
        return form_session
    grant, _, _ = form_session
    await sessions.end_all(get_deps(request), grant.person_id)
    get_hub(request).end_sessions(grant.person_id)
    request.session.clear()
    forget_session(request)
    return see_other("/login")


# --------------------------------------------------------------------------- confirm it's you


ASK = "For your security, enter your password to continue."
ASK_BOTH = "For your security, enter your password and confirm with your passkey or a code."
WRONG = "That is not your password."


async def step_up(request: Request, form: dict[str, str], *, field: str = "confirm_password",
                  always: bool = False) -> Refusal | None:
    """None when the person may go on: they proved it is them within the last 5 minutes (not
    enough when `always`), or do now with the form: their password in `form[field]`, or, once
    they have a second factor, that factor (`factor_code` or `factor_passkey`); with `always`
    (erasure) such a person gives both. Either opens the 5 minutes. Else what to tell them.
    Wrong passwords count with the sign-in throttle, wrong factors with the second factor's."""
    deps = get_deps(request)
    session = await current_session(request)
    if session is None:
        return Refusal(401, "Please sign in again.")
    if not always and sessions.recently_confirmed(deps, session):
        return None
    if session.second_factor and not always:
        return await confirm_with_factor(request, session, form)
    password = form.get(field, "")
    if not password:
        return Refusal(401, ASK_BOTH if session.second_factor else ASK)
    try:
        await sessions.confirm_password(deps, session, password)
    except TooManyRequests as exc:
        return Refusal(429, exc.detail, exc.retry_after)
    except DomainError:
        return Refusal(401, WRONG)
    forget_session(request)  # read again: confirmed now
    if session.second_factor:
        return await confirm_with_factor(request, session, form)
    return None


async def needs_confirmation(request: Request) -> Response | None:
    """For GET routes (downloads): None when the password was entered within the last 5
    minutes, else the redirect to `/confirm`, which comes back here."""
    session = await current_session(request)
    if session is None:
        return see_other("/login")
    if sessions.recently_confirmed(get_deps(request), session):
        return None
    return see_other("/confirm?next=" + quote(request.url.path, safe=""))


def _local(path: str | None) -> str:
    """Only a path of this site: never another host, never a script."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/settings"


@router.get("/confirm", response_class=HTMLResponse)
async def confirm_page(request: Request, next: str = "/settings") -> Response:
    session = await current_session(request)
    if session is None:
        return see_other("/login")
    return page(request, "confirm.html", person=session.person, next=_local(next), error=None)


@router.post("/confirm", response_class=HTMLResponse)
async def confirm(request: Request) -> Response:
    form_session = await signed_in_form(request, back="/settings")
    if isinstance(form_session, Response):
        return form_session
    _, person, form = form_session
    target = _local(form.get("next"))
    session = await current_session(request)
    if session is not None and session.second_factor:  # the second factor alone
        refusal = await confirm_with_factor(request, session, form)
    else:
        refusal = await step_up(request, form, field="password", always=True)
    if refusal is not None:
        return refusal.apply(page(request, "confirm.html", person=person, next=target,
                                  error=refusal.message))
    return see_other(target)
