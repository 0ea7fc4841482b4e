"""Messenger and WhatsApp in the person's settings, and Messenger's account linking page
(issue 15, ADR 0023).

- `GET /channels/messenger/link?account_linking_token=…&redirect_uri=…`: where the Log in
  button lands. It signs the person in (or asks for the password again, ADR 0019), then sends
  the browser back to `redirect_uri` with a one-time `authorization_code`.
- `POST /settings/channels/whatsapp`: the person's number (and password) gives an opt-in code
  to send from WhatsApp.
- `POST /settings/channels/{channel_id}/unlink`: unlink from this side; the platform is told.
- `platform_context`: what the channels page shows of both (set up or not, its state, the last
  messages sent and their delivery state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import DomainError, NotFound, TooManyRequests
from ledgerlink.domain.privacy import Grant
from ledgerlink.entrypoints.dependencies import (
    SESSION_KEY,
    client_address,
    current_session,
    forget_session,
    get_deps,
    signed_in,
)
from ledgerlink.entrypoints.web.auth import BAD_CREDENTIALS, step_up
from ledgerlink.entrypoints.web.kit import csrf_ok, expired_form, not_found, page, see_other, signed_in_form
from ledgerlink.entrypoints.web.second_step import begin_second_step
from ledgerlink.services.auth import sessions
from ledgerlink.services.messaging import platform_links, platform_optin
from ledgerlink.services.messaging.platform_channels import NAMES, PlatformChannel
from ledgerlink.services.messaging.platform_ports import MESSENGER, PLATFORMS, WHATSAPP, PlatformSendRecord

__all__ = ["platform_context", "router"]

router = APIRouter(include_in_schema=False)

SETTINGS = "/settings/channels"
LINK = "/channels/messenger/link"


def _channels(request: Request) -> dict[str, PlatformChannel]:
    container = getattr(request.app.state, "container", None)
    found: dict[str, PlatformChannel] = getattr(container, "platform_channels", None) or {}
    return found


@dataclass(frozen=True, slots=True)
class PlatformView:
    platform: str
    name: str
    enabled: bool
    mode: str | None  # live | simulator
    state: str | None  # ok | rate_limited | token_refused | unreachable
    last_error: str | None
    conversation_url: str | None
    business_number: str | None


async def platform_context(request: Request, grant: Grant) -> dict[str, Any]:
    """For the channels page: each platform's setup and state, and per platform channel of the
    person the last messages sent there with their delivery state."""
    channels = _channels(request)
    views = []
    for platform in PLATFORMS:
        channel = channels.get(platform)
        views.append(
            PlatformView(
                platform=platform,
                name=NAMES[platform],
                enabled=channel is not None,
                mode=None if channel is None else channel.setup.mode,
                state=None if channel is None else channel.health.state,
                last_error=None if channel is None else channel.health.last_error,
                conversation_url=None if channel is None else channel.setup.conversation_url,
                business_number=None if channel is None else channel.setup.business_number,
            )
        )
    sends: dict[str, list[PlatformSendRecord]] = {}
    async with get_deps(request).uow(readonly=True) as uow:
        for binding in await uow.platforms.bindings_of_person(grant.person_id):
            sends[binding.channel_id] = await uow.platforms.recent_sends(binding.channel_id, limit=5)
    return {"platforms": views, "platform_sends": sends, "platform_kinds": PLATFORMS}


# --------------------------------------------------------------------------- Messenger account linking


def _link_page(request: Request, status_code: int = 200, **context: Any) -> Response:
    return page(request, "platform_link.html", status_code, **context)


@router.get(LINK, response_class=HTMLResponse)
async def link_page(request: Request, account_linking_token: str = "", redirect_uri: str = "") -> Response:
    channel = _channels(request).get(MESSENGER)
    if channel is None:
        return page(
            request,
            "error.html",
            404,
            title="Messenger is not set up",
            message="Messenger is not set up on this server.",
        )
    error = None
    try:
        platform_links.check_redirect(channel, redirect_uri)
    except DomainError as exc:
        error = exc.detail
    session = await current_session(request)
    confirmed = session is not None and sessions.recently_confirmed(get_deps(request), session)
    return _link_page(
        request,
        400 if error else 200,
        person=None if session is None else session.person,
        token=account_linking_token,
        redirect_uri=redirect_uri,
        error=error,
        bad_link=error is not None,
        confirmed=confirmed,
        handle="",
    )


@router.post(LINK, response_class=HTMLResponse)
async def link(request: Request) -> Response:
    channel = _channels(request).get(MESSENGER)
    if channel is None:
        return not_found(request)
    ok, form = await csrf_ok(request)
    if not ok:
        return expired_form(request, LINK)
    token, redirect_uri = form.get("account_linking_token", ""), form.get("redirect_uri", "")
    deps = get_deps(request)
    session = await signed_in(request)
    context: dict[str, Any] = {"token": token, "redirect_uri": redirect_uri, "handle": form.get("handle", "")}
    if session is None:
        try:
            started = await sessions.sign_in(
                deps,
                handle=form.get("handle", ""),
                password=form.get("password", ""),
                address=client_address(request),
            )
        except sessions.SecondStepRequired as step:  # a passkey or a code first (ADR 0021), then back here
            back = f"{LINK}?{urlencode({'account_linking_token': token, 'redirect_uri': redirect_uri})}"
            return begin_second_step(request, step.token, next=back)
        except TooManyRequests as exc:
            return _link_page(request, 429, error=exc.detail, person=None, confirmed=False, **context)
        except DomainError:
            return _link_page(request, 401, error=BAD_CREDENTIALS, person=None, confirmed=False, **context)
        request.session.clear()  # a fresh cookie for the new session: no fixation
        request.session[SESSION_KEY] = started
        forget_session(request)
        session = await signed_in(request)
        assert session is not None
    elif (refusal := await step_up(request, form)) is not None:
        return refusal.apply(
            _link_page(request, error=refusal.message, person=session[1], confirmed=False, **context)
        )
    grant, person = session
    try:
        target = await platform_links.messenger_authorize(
            deps, channel, grant, account_linking_token=token, redirect_uri=redirect_uri
        )
    except DomainError as exc:
        return _link_page(request, 400, error=exc.detail, person=person, confirmed=True, **context)
    return see_other(target)


# --------------------------------------------------------------------------- WhatsApp opt-in, unlinking


@router.post(SETTINGS + "/whatsapp", response_class=HTMLResponse)
async def whatsapp_optin(request: Request) -> Response:
    form_session = await signed_in_form(request, back=SETTINGS)
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    channel = _channels(request).get(WHATSAPP)
    number = form.get("number", "")
    if channel is None:
        return page(
            request,
            "platform_optin.html",
            404,
            person=person,
            optin=None,
            number=number,
            error="WhatsApp is not set up on this server.",
        )
    if (refusal := await step_up(request, form)) is not None:
        return refusal.apply(
            page(
                request,
                "platform_optin.html",
                person=person,
                optin=None,
                number=number,
                error=refusal.message,
                confirmed=False,
            )
        )
    try:
        optin = await platform_optin.start_optin(get_deps(request), channel, grant, number=number)
    except DomainError as exc:
        return page(
            request,
            "platform_optin.html",
            400,
            person=person,
            optin=None,
            number=number,
            error=exc.detail,
            confirmed=True,
        )
    return page(
        request, "platform_optin.html", person=person, optin=optin, number=number, error=None, confirmed=True
    )


@router.post(SETTINGS + "/{channel_id}/unlink")
async def unlink(request: Request, channel_id: str) -> Response:
    form_session = await signed_in_form(request, back=SETTINGS)
    if isinstance(form_session, Response):
        return form_session
    grant, person, _ = form_session
    deps = get_deps(request)
    async with deps.uow(readonly=True) as uow:
        record = await uow.channels.get(channel_id)
    channel = None if record is None else _channels(request).get(record.kind)
    if record is None or channel is None or record.person_id != grant.person_id:
        return not_found(request, person)
    try:
        await platform_links.unlink(deps, channel, grant, channel_id)
    except NotFound:
        return not_found(request, person)
    return see_other(SETTINGS)
