"""Security settings and "Protect your account" (services/auth/factors.py, ADR 0021): passkeys,
an authenticator app, recovery codes, and the person's security log.

Every change here is sensitive: it needs the person to have proved it is them within the last
5 minutes (the password while they have no second factor, the factor once they do); otherwise
the page offers `/confirm` and the forms answer with a redirect there. Recovery codes are shown
once, in the answer to the form that made them (never in a URL, never stored readable). Ids go
in form fields, not paths.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from ledgerlink.domain.errors import DomainError, NotFound, TooManyRequests
from ledgerlink.entrypoints.dependencies import current_session, forget_session, get_deps
from ledgerlink.entrypoints.web.kit import csrf_ok, expired_form, not_found, page, see_other, too_many
from ledgerlink.entrypoints.web.second_step import factors_of
from ledgerlink.services.auth import sessions
from ledgerlink.services.auth.factors import ConfirmRequired
from ledgerlink.services.auth.sessions import Session

__all__ = ["EVENT_WORDS", "router"]

router = APIRouter(include_in_schema=False)

SECURITY = "/settings/security"
PROTECT = "/protect"
TOTP_SETUP = SECURITY + "/totp"

_KIND_WORDS = {"totp": "code from the authenticator app", "passkey": "passkey",
               "recovery_code": "recovery code"}
EVENT_WORDS = {
    "totp_added": "Authenticator app turned on",
    "totp_removed": "Authenticator app removed",
    "passkey_added": "Passkey added",
    "passkey_removed": "Passkey removed",
    "recovery_codes_created": "New recovery codes made (any older ones stopped working)",
    "recovery_code_used": "A recovery code was used ({detail} left)",
    "second_step_failed": "Sign-in stopped at the second step: the right password, then a wrong {kind}",
    "confirm_failed": "A wrong {kind} when confirming it was you",
    "second_factor_off": "Second factor turned off: signing in needs only the password",
}
NOTICES = {
    "totp_added": ("success", "Your authenticator app is on. Signing in now asks for a code from it."),
    "passkey_added": ("success", "Passkey added. Signing in now asks for it after your password."),
    "removed": ("success", "Removed."),
    "off": ("warning", "You removed your last second factor: signing in needs only your password, and "
                       "your recovery codes are gone."),
}


def event_words(kind: str, detail: str) -> str:
    words = EVENT_WORDS.get(kind, kind.replace("_", " "))
    return words.format(detail=detail, kind=_KIND_WORDS.get(detail, "code"))


def _confirm_url(back: str) -> str:
    return "/confirm?next=" + quote(back, safe="")


def _back(value: str | None) -> str:
    return PROTECT if value == PROTECT else SECURITY


async def _signed_in_form(request: Request) -> tuple[Session, dict[str, str]] | Response:
    session = await current_session(request)
    if session is None:
        return see_other("/login")
    ok, form = await csrf_ok(request)
    if not ok:
        return expired_form(request, SECURITY)
    return session, form


async def _security_page(request: Request, session: Session, status_code: int = 200, *,
                         notice: tuple[str, str] | None = None, error: str | None = None) -> Response:
    overview = await factors_of(request).overview(session.person.id)
    recovery_used = request.query_params.get("notice") == "recovery_used"
    return page(request, "security.html", status_code, person=session.person, overview=overview,
                confirmed=sessions.recently_confirmed(get_deps(request), session), notice=notice,
                error=error, recovery_used=recovery_used, event_words=event_words,
                confirm_url=_confirm_url(SECURITY))


def _codes_page(request: Request, session: Session, codes: list[str], *, first: bool) -> Response:
    return page(request, "recovery_codes.html", person=session.person, codes=codes, first=first)


def _refused(request: Request, session: Session, exc: DomainError, *, back: str) -> Response:
    """A refused change: to `/confirm` when the 5 minutes are over, else the page with the words."""
    if isinstance(exc, ConfirmRequired):
        return see_other(_confirm_url(back))
    if isinstance(exc, TooManyRequests):
        return too_many(request, exc, person=session.person, back=back)
    if isinstance(exc, NotFound):
        return not_found(request, session.person)
    return page(request, "error.html", 400 if exc.status >= 500 else exc.status, person=session.person,
                title="That did not work", message=exc.detail, back=back)


# --------------------------------------------------------------------------- the pages


@router.get(SECURITY, response_class=HTMLResponse)
async def security_page(request: Request, notice: str | None = None) -> Response:
    session = await current_session(request)
    if session is None:
        return see_other("/login")
    return await _security_page(request, session, notice=NOTICES.get(notice or ""))


@router.get(PROTECT, response_class=HTMLResponse)
async def protect_page(request: Request) -> Response:
    """Offered right after sign-up: a passkey, an authenticator app, or skip."""
    session = await current_session(request)
    if session is None:
        return see_other("/login")
    if session.second_factor:
        return see_other(SECURITY)
    return page(request, "protect.html", person=session.person, error=None,
                confirmed=sessions.recently_confirmed(get_deps(request), session),
                confirm_url=_confirm_url(PROTECT))


# --------------------------------------------------------------------------- authenticator app


async def _totp_page(request: Request, session: Session, status_code: int = 200, *,
                     error: str | None = None) -> Response:
    setup = await factors_of(request).totp_setup(session)
    return page(request, "totp_setup.html", status_code, person=session.person, error=error,
                secret_groups=setup.secret_groups, qr=Markup(setup.qr_svg),  # noqa: S704 - segno's SVG
                back=_back(request.query_params.get("from")))


@router.get(TOTP_SETUP, response_class=HTMLResponse)
async def totp_setup_page(request: Request) -> Response:
    session = await current_session(request)
    if session is None:
        return see_other("/login")
    try:
        return await _totp_page(request, session)
    except DomainError as exc:
        return _refused(request, session, exc, back=TOTP_SETUP)


@router.post(TOTP_SETUP, response_class=HTMLResponse)
async def totp_confirm(request: Request) -> Response:
    found = await _signed_in_form(request)
    if isinstance(found, Response):
        return found
    session, form = found
    try:
        codes = await factors_of(request).confirm_totp(session, form.get("code", ""))
    except TooManyRequests as exc:
        return too_many(request, exc, person=session.person, back=TOTP_SETUP)
    except ConfirmRequired as exc:
        return _refused(request, session, exc, back=TOTP_SETUP)
    except DomainError as exc:
        try:
            return await _totp_page(request, session, 422 if exc.code != "totp_wrong" else 401,
                                    error=exc.detail)
        except DomainError as again:
            return _refused(request, session, again, back=SECURITY)
    forget_session(request)
    if codes is not None:
        return _codes_page(request, session, codes, first=True)
    return see_other(SECURITY + "?notice=totp_added")


@router.post(TOTP_SETUP + "/remove")
async def totp_remove(request: Request) -> Response:
    found = await _signed_in_form(request)
    if isinstance(found, Response):
        return found
    session, _ = found
    try:
        await factors_of(request).remove_totp(session)
    except DomainError as exc:
        return _refused(request, session, exc, back=SECURITY)
    return await _after_removal(request, session)


async def _after_removal(request: Request, session: Session) -> Response:
    overview = await factors_of(request).overview(session.person.id)
    return see_other(SECURITY + ("?notice=removed" if overview.second_factor else "?notice=off"))


# --------------------------------------------------------------------------- passkeys


@router.post(SECURITY + "/passkeys/options")
async def passkey_options(request: Request) -> Response:
    """Options for `navigator.credentials.create` (fetched by `static/passkeys.js`)."""
    session = await current_session(request)
    if session is None:
        return JSONResponse({"code": "unauthorized", "detail": "Please sign in again."}, status_code=401)
    ok, form = await csrf_ok(request)
    if not ok:
        return JSONResponse({"code": "csrf_failed", "detail": "Reload the page."}, status_code=400)
    try:
        options = await factors_of(request).passkey_options(session)
    except ConfirmRequired as exc:
        return JSONResponse({"code": exc.code, "detail": exc.detail,
                             "confirm": _confirm_url(_back(form.get("back")))}, status_code=403)
    except DomainError as exc:
        return JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)
    return Response(options, media_type="application/json")


@router.post(SECURITY + "/passkeys", response_class=HTMLResponse)
async def passkey_add(request: Request) -> Response:
    found = await _signed_in_form(request)
    if isinstance(found, Response):
        return found
    session, form = found
    back = _back(form.get("back"))
    try:
        codes = await factors_of(request).add_passkey(session, credential=form.get("credential", ""),
                                                      name=form.get("name", ""))
    except DomainError as exc:
        if isinstance(exc, ConfirmRequired | TooManyRequests | NotFound):
            return _refused(request, session, exc, back=back)
        if back == PROTECT:
            return page(request, "protect.html", 400, person=session.person, error=exc.detail, confirmed=True,
                        confirm_url=_confirm_url(PROTECT))
        return await _security_page(request, session, 400, error=exc.detail)
    forget_session(request)
    if codes is not None:
        return _codes_page(request, session, codes, first=True)
    return see_other(SECURITY + "?notice=passkey_added")


@router.post(SECURITY + "/passkeys/remove")
async def passkey_remove(request: Request) -> Response:
    found = await _signed_in_form(request)
    if isinstance(found, Response):
        return found
    session, form = found
    try:
        await factors_of(request).remove_passkey(session, form.get("passkey_id", ""))
    except DomainError as exc:
        return _refused(request, session, exc, back=SECURITY)
    return await _after_removal(request, session)


# --------------------------------------------------------------------------- recovery codes


@router.post(SECURITY + "/recovery-codes", response_class=HTMLResponse)
async def recovery_codes(request: Request) -> Response:
    found = await _signed_in_form(request)
    if isinstance(found, Response):
        return found
    session, _ = found
    try:
        codes = await factors_of(request).regenerate_recovery_codes(session)
    except DomainError as exc:
        return _refused(request, session, exc, back=SECURITY)
    return _codes_page(request, session, codes, first=False)
