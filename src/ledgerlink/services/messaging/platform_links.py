"""Linking a Messenger chat or a WhatsApp number to a person, and unlinking it (issue 15).

Messenger, as the platform defines account linking: the Log in button opens our page with
`account_linking_token` and `redirect_uri`; after sign-in we ask the Graph API whose token it
is (the PSID), keep a one-time `authorization_code` for that PSID (10 minutes, stored as a
digest) and send the browser back to `redirect_uri` with it. The platform then sends the
`account_linking` `linked` event with the code, signed, from that PSID: only then is the
PSID bound (WhatsApp's opt-in by code is `platform_optin`, which binds through `bind`).
Either side may unlink; the other side is told. One chat per platform per person: linking
again replaces the old one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

import structlog

from ledgerlink.domain.errors import InvalidInput, NotFound
from ledgerlink.domain.events import ChannelRemoved
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging.channel_ports import ChannelRecord
from ledgerlink.services.messaging.messenger import ensure_system_thread, post_text
from ledgerlink.services.messaging.platform_channels import PlatformChannel, address_key
from ledgerlink.services.messaging.platform_ports import (
    MESSENGER,
    PLATFORMS,
    WHATSAPP,
    GraphError,
    PlatformBindingRecord,
    PlatformCodeRecord,
)
from ledgerlink.services.messaging.platform_window import Category

__all__ = [
    "CODE_TTL",
    "bind",
    "check_redirect",
    "messenger_authorize",
    "messenger_linked",
    "platform_unlinked",
    "unlink",
]

log = structlog.get_logger(__name__)

CODE_TTL = timedelta(minutes=10)
MAX_CHANNELS = 10
LINKED_WORDS = {
    MESSENGER: (
        "Messenger is now linked to your Ledgerlink account ({target}). Your updates go there "
        'too, under Messenger\'s rules; ask there as here ("balance", "help") and answer '
        '"Was this you?" with its buttons. Not you? Unlink it in Settings → Channels.'
    ),
    WHATSAPP: (
        "WhatsApp is now linked to your Ledgerlink account ({target}). Your updates go there "
        'too, under WhatsApp\'s rules; ask there as here ("balance", "help") and answer '
        '"Was this you?" with its buttons. Not you? Unlink it in Settings → Channels.'
    ),
}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _masked(platform: str, address: str) -> str:
    if platform == WHATSAPP:
        return f"+{address[:2]} •••• {address[-4:]}"
    return f"Messenger chat ••{address[-4:]}"


# --------------------------------------------------------------------------- binding


async def _remove(
    deps: Deps, uow: UnitOfWork, grant: Grant, channel_id: str, kind: str, person_id: str
) -> None:
    await uow.channels.remove(channel_id)  # its binding and sent-message rows go with it (cascade)
    await access.audit(
        uow,
        grant,
        Purpose.SHOW_TO_PERSON,
        action="remove_channel",
        subject=f"channel:{channel_id}",
        at=deps.clock.now(),
    )
    uow.events.append(ChannelRemoved(person_id=person_id, channel_id=channel_id, kind=kind))


async def bind(
    deps: Deps, channel: PlatformChannel, person_id: str, address: str, *, last_inbound_at: datetime | None
) -> str | None:
    """Bind `address` to the person (replacing an earlier binding of either); the channel id, or
    None when the person is gone."""
    platform = channel.platform
    key = address_key(channel.setup, address)
    now = deps.clock.now()
    channel_id = new_id("chn")
    grant = Grant.for_component(person_id, platform)
    async with deps.uow(readonly=True) as uow:
        person = await uow.persons.get(person_id)
    if person is None or person.erased_at is not None:
        return None
    target = _masked(platform, address)
    sealed = await access.seal_channel_config(
        deps.vault,
        person_id=person_id,
        channel_id=channel_id,
        config={"psid" if platform == MESSENGER else "wa_id": address, "address": target},
    )
    async with deps.uow() as uow:
        earlier = await uow.platforms.binding_by_address(platform, key)
        if earlier is not None:  # this chat was someone's (or this person's) before
            await _remove(
                deps,
                uow,
                Grant.for_component(earlier.person_id, platform),
                earlier.channel_id,
                platform,
                earlier.person_id,
            )
            if earlier.person_id != person_id:
                await _notice(
                    deps,
                    uow,
                    earlier.person_id,
                    f"Your {channel.setup.name} chat was linked to another Ledgerlink account, so "
                    "it gets no more of your updates.",
                )
        mine = [c for c in await uow.channels.for_person(person_id)]
        for old in (c for c in mine if c.kind == platform):
            await _remove(deps, uow, grant, old.id, platform, person_id)
        if len([c for c in mine if c.kind != platform]) >= MAX_CHANNELS:
            raise InvalidInput("at most 10 channels", code="too_many_channels")
        await uow.channels.add(
            ChannelRecord(
                id=channel_id,
                person_id=person_id,
                kind=platform,
                sealed=sealed,
                status="active",
                created_at=now,
                updated_at=now,
            )
        )
        await uow.platforms.add_binding(
            PlatformBindingRecord(
                channel_id=channel_id,
                person_id=person_id,
                platform=platform,
                address_key=key,
                created_at=now,
                updated_at=now,
                last_inbound_at=last_inbound_at,
            )
        )
        await access.audit(
            uow, grant, Purpose.SHOW_TO_PERSON, action="add_channel", subject=f"channel:{channel_id}", at=now
        )
        await _notice(
            deps,
            uow,
            person_id,
            LINKED_WORDS[platform].format(target=target),
            tone="success",
            subject_key=f"channel:linked:{channel_id}",
        )
        await deps.commit_and_publish(uow)
    log.info("platform_linked", platform=platform, channel_id=channel_id)
    return channel_id


async def _notice(
    deps: Deps,
    uow: UnitOfWork,
    person_id: str,
    text: str,
    *,
    tone: str = "info",
    subject_key: str | None = None,
) -> None:
    thread = await ensure_system_thread(deps, uow, person_id)
    await post_text(
        deps,
        uow,
        thread,
        text,
        tone=tone,
        subject_key=subject_key,
        actions=[{"label": "Channels", "href": "/settings/channels"}],
    )


# --------------------------------------------------------------------------- Messenger


def check_redirect(channel: PlatformChannel, redirect_uri: str) -> str:
    """`redirect_uri` must lead back to the platform itself (an open redirect here would hand
    the authorization code to anyone)."""
    parts = urlsplit(redirect_uri.strip())
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if len(redirect_uri) > 2048 or not parts.netloc or origin not in channel.setup.redirect_origins:
        raise InvalidInput(
            "this link does not come from Messenger: open it from the Log in button there",
            code="bad_redirect_uri",
        )
    return redirect_uri.strip()


async def messenger_authorize(
    deps: Deps, channel: PlatformChannel, grant: Grant, *, account_linking_token: str, redirect_uri: str
) -> str:
    """The signed-in person agreed: ask the platform whose token this is, keep a one-time code
    for that PSID and return where the browser goes next (`redirect_uri` with the code)."""
    target = check_redirect(channel, redirect_uri)
    token = account_linking_token.strip()
    if not 0 < len(token) <= 1024 or not token.isprintable():
        raise InvalidInput(
            "this link has no valid account_linking_token: tap Log in again in Messenger",
            code="bad_linking_token",
        )
    try:
        psid = await channel.psid_for(token)
    except GraphError as exc:
        log.info("messenger_linking_token_refused", error=exc.label)
        raise InvalidInput(
            "Messenger did not confirm this link (it may have expired): tap Log in again in Messenger",
            code="linking_token_refused",
        ) from None
    code = secrets.token_urlsafe(32)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.platforms.drop_codes(grant.person_id, MESSENGER)
        await uow.platforms.add_code(
            PlatformCodeRecord(
                code_key=_digest(code),
                platform=MESSENGER,
                person_id=grant.person_id,
                expires_at=now + CODE_TTL,
                created_at=now,
                address_key=address_key(channel.setup, psid),
            )
        )
        await access.audit(
            uow,
            grant,
            Purpose.SHOW_TO_PERSON,
            action="start_platform_link",
            subject="platform:messenger",
            at=now,
        )
        await uow.commit()
    return target + ("&" if "?" in target else "?") + urlencode({"authorization_code": code})


async def messenger_linked(
    deps: Deps, channel: PlatformChannel, *, psid: str, code: str, last_inbound_at: datetime | None
) -> bool:
    """The platform's `linked` event: bind the PSID if the code is ours, unused, in time and for
    this PSID; else the link is undone on the platform's side too."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        record = await uow.platforms.code(_digest(code))
        ok = (
            record is not None
            and record.platform == MESSENGER
            and record.used_at is None
            and now < record.expires_at
            and record.address_key == address_key(channel.setup, psid)
            and await uow.platforms.use_code(record.code_key, at=now)
        )
        await uow.commit()
    if (
        ok
        and record is not None
        and await bind(deps, channel, record.person_id, psid, last_inbound_at=last_inbound_at) is not None
    ):
        return True
    log.info("messenger_link_refused", reason="code_unknown_used_expired_or_other_psid")
    await channel.say(
        psid,
        "That link did not work (it was used, it expired, or it was made for another "
        "chat). Tap Log in again to link this chat.",
    )
    await channel.unlink_at_platform(psid)  # Messenger thinks it is linked: undo that there too
    return False


# --------------------------------------------------------------------------- unlinking


async def platform_unlinked(deps: Deps, channel: PlatformChannel, *, address: str) -> bool:
    """The platform's side ended the link (Messenger's `unlinked` event). False when the chat
    was not linked (e.g. our own unlink coming back)."""
    key = address_key(channel.setup, address)
    async with deps.uow() as uow:
        binding = await uow.platforms.binding_by_address(channel.platform, key)
        if binding is None:
            return False
        grant = Grant.for_component(binding.person_id, channel.platform)
        await _remove(deps, uow, grant, binding.channel_id, channel.platform, binding.person_id)
        await _notice(
            deps,
            uow,
            binding.person_id,
            f"{channel.setup.name} was unlinked from {channel.setup.name}'s side: that chat gets no "
            "more updates.",
        )
        await deps.commit_and_publish(uow)
    await channel.say(address, "Unlinked: this chat gets no more updates from Ledgerlink.")
    return True


async def unlink(deps: Deps, channel: PlatformChannel, grant: Grant, channel_id: str) -> None:
    """The person unlinks in settings: the channel is gone, then a goodbye in the chat and the
    platform told (Messenger's unlink API). The binding goes first, so the platform's own
    `unlinked` event, coming back at any moment, finds nothing to end. NotFound for someone
    else's or an unknown channel."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        record = await uow.channels.get(channel_id)
        binding = await uow.platforms.binding(channel_id)
        if record is None or record.person_id != grant.person_id or record.kind != channel.platform:
            raise NotFound("channel not found")
        config = (
            await access.open_channel_configs(
                deps.vault, uow, grant, Purpose.SHOW_TO_PERSON, [record], at=now
            )
        )[record.id]
        await _remove(deps, uow, grant, channel_id, channel.platform, grant.person_id)
        await _notice(deps, uow, grant.person_id, f"{channel.setup.name} is unlinked.")
        await deps.commit_and_publish(uow)
    address = channel.address_of(config)
    await channel.say(
        address,
        "Unlinked in Ledgerlink: this chat gets no more updates.",
        category=Category.ACCOUNT_ALERT,
        responding=False,
        last_inbound_at=None if binding is None else binding.last_inbound_at,
    )
    await channel.unlink_at_platform(address)  # Messenger: its `unlinked` event comes back, ignored


assert set(LINKED_WORDS) == set(PLATFORMS)
