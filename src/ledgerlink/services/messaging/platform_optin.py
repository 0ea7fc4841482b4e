"""WhatsApp opt-in by phone number (issue 15, ADR 0023): the person gives their number in
settings and gets a 6-digit code (15 minutes, stored as a keyed digest, for that number only);
sending it from that number on WhatsApp opts the number in. Tries are throttled per number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from ledgerlink.domain.errors import InvalidInput, TooManyRequests
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.services import access
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import RateRule
from ledgerlink.services.messaging.platform_channels import PlatformChannel, address_key
from ledgerlink.services.messaging.platform_links import bind
from ledgerlink.services.messaging.platform_ports import WHATSAPP, PlatformCodeRecord

__all__ = ["OPTIN_TTL", "OptIn", "normalise_number", "optin_message", "start_optin"]

OPTIN_TTL = timedelta(minutes=15)
_OPTIN_TEXT = re.compile(r"\s*(?:link\s*[:#-]?\s*)?(\d{6})\s*", re.I)
# Opt-in codes tried per sending number: a 6-digit code is not guessed in 5 tries.
OPTIN_TRIES = RateRule("platform_optin_tries", ((5, 15 * 60), (20, 86400)), "Too many codes tried.")


def _optin_key(channel: PlatformChannel, code: str) -> str:
    return hmac.new(channel.setup.id_key, f"optin:{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class OptIn:
    code: str
    expires_at: datetime
    send_to: str | None  # the business number to write to, +digits
    open_url: str | None  # wa.me (live) or the simulator's conversation page (demo)


def normalise_number(value: str) -> str:
    """A phone number as WhatsApp writes it (country code and number, digits only)."""
    digits = re.sub(r"[\s().-]", "", value.strip())
    if digits.startswith("00"):
        digits = digits[2:]
    digits = digits.removeprefix("+")
    if not digits.isdigit() or not 8 <= len(digits) <= 15 or digits.startswith("0"):
        raise InvalidInput(
            "give your WhatsApp number with its country code, like +44 7700 900123", code="bad_phone_number"
        )
    return digits


async def start_optin(deps: Deps, channel: PlatformChannel, grant: Grant, *, number: str) -> OptIn:
    digits = normalise_number(number)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.platforms.drop_codes(grant.person_id, WHATSAPP)
        for _ in range(8):
            code = f"{secrets.randbelow(10**6):06d}"
            if await uow.platforms.add_code(
                PlatformCodeRecord(
                    code_key=_optin_key(channel, code),
                    platform=WHATSAPP,
                    person_id=grant.person_id,
                    expires_at=now + OPTIN_TTL,
                    created_at=now,
                    address_key=address_key(channel.setup, digits),
                )
            ):
                break
        else:  # pragma: no cover - a million codes, fifteen minutes
            raise InvalidInput("no code is free right now: try again in a minute", code="optin_busy")
        await access.audit(
            uow,
            grant,
            Purpose.SHOW_TO_PERSON,
            action="start_platform_link",
            subject="platform:whatsapp",
            at=now,
        )
        await uow.commit()
    business = channel.setup.business_number
    open_url = channel.setup.conversation_url
    if open_url is None and business:
        open_url = f"https://wa.me/{business}?" + urlencode({"text": f"LINK {code}"})
    return OptIn(
        code=code, expires_at=now + OPTIN_TTL, send_to=f"+{business}" if business else None, open_url=open_url
    )


async def optin_message(
    deps: Deps, channel: PlatformChannel, *, wa_id: str, text: str, last_inbound_at: datetime | None
) -> bool:
    """A text from a number that is not opted in: True when it was an opt-in code (taken or
    refused, and answered), False when it is anything else."""
    match = _OPTIN_TEXT.fullmatch(text)
    if match is None:
        return False
    key = address_key(channel.setup, wa_id)
    try:
        await throttle.check(deps.limiter, OPTIN_TRIES, f"{OPTIN_TRIES.name}:{key}")
    except TooManyRequests:
        await channel.say(wa_id, "Too many codes tried from this number. Please wait a while.")
        return True
    now = deps.clock.now()
    async with deps.uow() as uow:
        record = await uow.platforms.code(_optin_key(channel, match[1]))
        ok = (
            record is not None
            and record.platform == WHATSAPP
            and record.used_at is None
            and now < record.expires_at
            and record.address_key == key
            and await uow.platforms.use_code(record.code_key, at=now)
        )
        await uow.commit()
    if not ok or record is None:
        await channel.say(
            wa_id,
            "That code did not work: it expired, was used, or was made for another "
            "number. Make a new one in Ledgerlink → Settings → Channels.",
        )
        return True
    await bind(deps, channel, record.person_id, wa_id, last_inbound_at=last_inbound_at)
    return True
