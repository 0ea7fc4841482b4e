"""The second step of signing in, and re-authentication with the second factor (services/auth,
ADR 0021).

After the right password, a person with a second factor holds only a *pending* sign-in (its
token in the cookie under `PENDING_KEY`, not a session): every page, download and the live feed
still answer as signed out. `/login/second-step` offers their passkey, a code from their
authenticator app, or a recovery code; passing it starts the session. Passkey options are
fetched by the page (`static/passkeys.js`) and bound to the pending sign-in (or, to confirm a
sensitive action, to the session).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ledgerlink.domain.errors import DomainError, TooManyRequests
from ledgerlink.entrypoints.dependencies import SESSION_KEY, current_session, forget_session, get_deps
from ledgerlink.entrypoints.web.kit import csrf_ok, expired_form, page, see_other, too_many
from ledgerlink.services.auth import second_step
from ledgerlink.services.auth.factors import SecondFactors
from ledgerlink.services.auth.sessions import Session
from ledgerlink.services.auth.verification import RECOVERY_CODE

__all__ = ["PENDING_KEY", "Refusal", "begin_second_step", "begin_session", "confirm_with_factor",
           "factors_of", "router"]

router = APIRouter(include_in_schema=False)

PENDING_KEY = "pending"  # the pending sign-in's token, inside the signed cookie
NEXT_KEY = "pending_next"  # where a finished second step goes (a local path)
STEP = "/login/second-step"
CODE_FIELD, PASSKEY_FIELD = "factor_code", "factor_passkey"
ASK_FACTOR = "For your security, confirm it is you with your passkey or a code."


def factors_of(request: Request) -> SecondFactors:
    found = getattr(request.app.state.container, "second_factors", None)
    assert isinstance(found, SecondFactors), "bootstrap() builds the second factors"
    return found


def begin_session(request: Request, token: str) -> None:
    """A fresh cookie (and CSRF token) for the new session: no fixation, no pending sign-in."""
    request.session.clear()
    request.session[SESSION_KEY] = token
    forget_session(request)


def _local(path: str | None) -> str | None:
    """Only a path of this site: never another host, never a script."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


def begin_second_step(request: Request, token: str, *, next: str | None = None) -> Response:
    """The password was right and a second step is needed: a fresh cookie holding only the
    pending sign-in (and `next`, a local path to go to once it is done), on to the second step."""
    request.session.clear()
    request.session[PENDING_KEY] = token
    if (target := _local(next)) is not None:
        request.session[NEXT_KEY] = target
    forget_session(request)
    return see_other(STEP)


def _pending_token(request: Request) -> str | None:
    value = request.session.get(PENDING_KEY)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a sensitive action did not happen: the status, and the words for the form."""

    status: int
    message: str
    retry_after: int | None = None

    def apply(self, response: Response) -> Response:
        response.status_code = self.status
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


async def confirm_with_factor(request: Request, session: Session, form: dict[str, str]) -> Refusal | None:
    """Re-authenticate with the second factor in the form (a passkey's answer, or a code from
    the app, or a recovery code). None when it checked out (the next 5 minutes are confirmed)."""
    code, passkey = form.get(CODE_FIELD, ""), form.get(PASSKEY_FIELD, "")
    if not code.strip() and not passkey:
        return Refusal(401, ASK_FACTOR)
    try:
        await second_step.confirm(factors_of(request), session, code=code, passkey=passkey)
    except TooManyRequests as exc:
        return Refusal(429, exc.detail, exc.retry_after)
    except DomainError as exc:
        return Refusal(401, exc.detail)
    forget_session(request)  # read again: confirmed now
    return None


def _json_error(exc: DomainError) -> JSONResponse:
    response = JSONResponse({"code": exc.code, "detail": exc.detail}, status_code=exc.status)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


@router.post("/confirm/passkey-options")
async def confirm_passkey_options(request: Request) -> Response:
    """Options for `navigator.credentials.get`, to confirm a sensitive action with a passkey."""
    session = await current_session(request)
    if session is None:
        return JSONResponse({"code": "unauthorized", "detail": "Please sign in again."}, status_code=401)
    ok, _ = await csrf_ok(request)
    if not ok:
        return JSONResponse({"code": "csrf_failed", "detail": "Reload the page."}, status_code=400)
    try:
        options = await second_step.confirm_options(factors_of(request), session)
    except DomainError as exc:
        return _json_error(exc)
    return Response(options, media_type="application/json")


# --------------------------------------------------------------------------- the sign-in's second step


def _methods(step: second_step.PendingSignIn) -> dict[str, bool]:
    return {"has_passkey": "passkey" in step.factors, "has_totp": "totp" in step.factors}


@router.get(STEP, response_class=HTMLResponse)
async def second_step_page(request: Request) -> Response:
    if await current_session(request) is not None:
        return see_other("/")
    token = _pending_token(request)
    step = None if token is None else await second_step.pending(get_deps(request), token)
    if step is None:
        request.session.pop(PENDING_KEY, None)
        return page(request, "login.html", 401, handle="",
                    error="Your sign-in expired. Please enter your handle and password again.")
    return page(request, "second_step.html", handle=step.handle, error=None, **_methods(step))


@router.post(STEP, response_class=HTMLResponse)
async def second_step_submit(request: Request) -> Response:
    ok, form = await csrf_ok(request)
    if not ok:
        return expired_form(request, STEP)
    token = _pending_token(request)
    deps = get_deps(request)
    step = None if token is None else await second_step.pending(deps, token)
    if token is None or step is None:
        request.session.pop(PENDING_KEY, None)
        return page(request, "login.html", 401, handle="",
                    error="Your sign-in expired. Please enter your handle and password again.")
    try:
        done = await second_step.complete(factors_of(request), token, code=form.get(CODE_FIELD, ""),
                                          passkey=form.get(PASSKEY_FIELD, ""))
    except TooManyRequests as exc:
        return too_many(request, exc, template="second_step.html", handle=step.handle, error=exc.detail,
                        **_methods(step))
    except DomainError as exc:
        return page(request, "second_step.html", 401, handle=step.handle, error=exc.detail, **_methods(step))
    target = _local(request.session.get(NEXT_KEY)) or "/"
    begin_session(request, done.token)
    if done.proof.method == RECOVERY_CODE:
        return see_other("/settings/security?notice=recovery_used")
    return see_other(target)


@router.post(STEP + "/passkey-options")
async def second_step_passkey_options(request: Request) -> Response:
    ok, _ = await csrf_ok(request)
    if not ok:
        return JSONResponse({"code": "csrf_failed", "detail": "Reload the page."}, status_code=400)
    token = _pending_token(request)
    if token is None:
        return JSONResponse({"code": "second_step_expired", "detail": "Please sign in again."},
                            status_code=401)
    try:
        options = await second_step.passkey_options(factors_of(request), token)
    except DomainError as exc:
        return _json_error(exc)
    return Response(options, media_type="application/json")


@router.post(STEP + "/cancel")
async def second_step_cancel(request: Request) -> Response:
    ok, _ = await csrf_ok(request)
    if not ok:
        return expired_form(request, "/login")
    token = _pending_token(request)
    if token is not None:
        await second_step.cancel(get_deps(request), token)
    request.session.pop(PENDING_KEY, None)
    request.session.pop(NEXT_KEY, None)
    return see_other("/login")
