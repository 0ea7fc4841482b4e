"""The person's outside channels: add a webhook endpoint or an email address, remove one, and
see how the last deliveries went. Bad input answers the page with an inline error. Adding a
channel sends the person's messages somewhere new: it needs the password entered within the
last 5 minutes, or in the form (`auth.step_up`, ADR 0019)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ledgerlink.domain.errors import DomainError, NotFound
from ledgerlink.entrypoints.dependencies import current_session, get_deps, signed_in
from ledgerlink.entrypoints.web.auth import step_up
from ledgerlink.entrypoints.web.kit import not_found, page, see_other, signed_in_form
from ledgerlink.entrypoints.web.platform_channels import platform_context  # Messenger, WhatsApp
from ledgerlink.services.auth import sessions
from ledgerlink.services.messaging import channels

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

PATH = "/settings/channels"


def _email_enabled(request: Request) -> bool:
    container = getattr(request.app.state, "container", None)
    worker = getattr(container, "channel_worker", None)
    return worker is not None and "email" in worker.kinds


def delivery_state(deliveries: list[Any]) -> dict[str, Any]:
    """A channel's delivery state as it is (issue 13): attempts over its recent deliveries,
    the newest error, the next retry, and what the newest message is doing."""
    tried = [d for d in deliveries if d.attempts]
    errored = [d for d in deliveries if d.last_error or (d.last_status_code or 0) >= 400]
    waiting = [d.next_attempt_at for d in deliveries
               if d.status == "pending" and d.attempts and d.next_attempt_at]
    newest = deliveries[0] if deliveries else None
    if newest is None:
        word = "Nothing sent yet"
    elif newest.status == "pending":
        word = "Retrying" if newest.attempts else "Queued, not tried yet"
    else:
        word = {"delivered": "Delivered", "gave_up": "Gave up", "failed": "Failed"}.get(newest.status,
                                                                                      newest.status.capitalize())
    last = errored[0] if errored else None
    return {"word": word, "attempts": sum(d.attempts for d in tried), "messages": len(deliveries),
            "last_error": None if last is None else " ".join(
                str(x) for x in (last.last_status_code, last.last_error) if x),
            "next_attempt_at": min(waiting) if waiting else None}


async def _page(request: Request, person: Any, grant: Any, status_code: int = 200, **extra: Any) -> Response:
    items = await channels.overview(get_deps(request), grant)
    outbound = get_deps(request).outbound
    session = await current_session(request)
    confirmed = session is not None and sessions.recently_confirmed(get_deps(request), session)
    return page(request, "channels.html", status_code, person=person, channels=items,
                email_enabled=_email_enabled(request), matrix_bot=_matrix_bot(request),
                confirmed=confirmed, states={c.id: delivery_state(list(c.deliveries)) for c in items},
                webhook_http_ok=outbound is not None and outbound.allow_loopback,
                **await platform_context(request, grant), **extra)


@router.get(PATH, response_class=HTMLResponse)
async def channels_page(request: Request) -> Response:
    session = await signed_in(request)
    if session is None:
        return see_other("/login")
    grant, person = session
    return await _page(request, person, grant)


@router.post(PATH + "/webhook")
async def add_webhook(request: Request) -> Response:
    form_session = await signed_in_form(request, back=PATH)
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    if (refusal := await step_up(request, form)) is not None:
        return refusal.apply(await _page(request, person, grant, webhook_error=refusal.message,
                                         webhook_url=form.get("url", "")))
    try:
        _, secret = await channels.add_webhook(get_deps(request), grant, url=form.get("url", ""))
    except DomainError as exc:
        return await _page(request, person, grant, 400, webhook_error=exc.detail,
                           webhook_url=form.get("url", ""))
    return await _page(request, person, grant, new_secret=secret)


@router.post(PATH + "/email")
async def add_email(request: Request) -> Response:
    form_session = await signed_in_form(request, back=PATH)
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    if (refusal := await step_up(request, form)) is not None:
        return refusal.apply(await _page(request, person, grant, email_error=refusal.message,
                                         email_address=form.get("address", "")))
    try:
        await channels.add_email(get_deps(request), grant, address=form.get("address", ""),
                                 enabled=_email_enabled(request))
    except DomainError as exc:
        return await _page(request, person, grant, 400, email_error=exc.detail,
                           email_address=form.get("address", ""))
    return see_other(PATH)


@router.post(PATH + "/{channel_id}/remove")
async def remove(request: Request, channel_id: str) -> Response:
    form_session = await signed_in_form(request, back=PATH)
    if isinstance(form_session, Response):
        return form_session
    grant, person, _ = form_session
    try:
        await channels.remove(get_deps(request), grant, channel_id)
    except NotFound:
        return not_found(request, person)
    return see_other(PATH)


# --------------------------------------------------------------------------- Matrix channel


def _matrix_bot(request: Request) -> str | None:
    """The bot's Matrix ID when the Matrix channel is set up on this server, else None."""
    container = getattr(request.app.state, "container", None)
    client = getattr(container, "matrix_client", None)
    return None if client is None else str(client.user_id)


@router.post(PATH + "/matrix")
async def add_matrix(request: Request) -> Response:
    form_session = await signed_in_form(request, back=PATH)
    if isinstance(form_session, Response):
        return form_session
    grant, person, form = form_session
    if (refusal := await step_up(request, form)) is not None:
        return refusal.apply(await _page(request, person, grant, matrix_error=refusal.message,
                                         matrix_id=form.get("mxid", "")))
    bot = _matrix_bot(request)
    try:
        await channels.add_matrix(get_deps(request), grant, mxid=form.get("mxid", ""),
                                  enabled=bot is not None, bot=bot)
    except DomainError as exc:
        return await _page(request, person, grant, 400, matrix_error=exc.detail,
                           matrix_id=form.get("mxid", ""))
    return see_other(PATH)
