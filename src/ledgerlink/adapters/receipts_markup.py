"""Receipt emails read (issue 11): the MIME message parsed with the standard library, the
schema.org markup of its HTML part (JSON-LD and microdata, Gmail's email markup) extracted with
extruct. Never logs the message: addresses and bodies are personal data."""

from __future__ import annotations

import json
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

import extruct

from ledgerlink.services.receipts.ports import MailMarkup

_TYPES = ("Order", "ParcelDelivery")


def _html_parts(message: EmailMessage) -> list[str]:
    out = []
    for part in message.walk():
        if part.get_content_type() == "text/html" and not part.is_attachment():
            try:
                out.append(str(part.get_content()))
            except (LookupError, ValueError):  # an unknown charset: not readable, not fatal
                continue
    return out


def _date(message: EmailMessage) -> datetime | None:
    try:
        when = parsedate_to_datetime(str(message["date"])) if message["date"] else None
    except (TypeError, ValueError):
        return None
    return None if when is None or when.tzinfo is None else when


def read_mail(raw: bytes) -> MailMarkup:
    """The schema.org Order / ParcelDelivery objects of one message; `broken` says why markup
    that is there could not be read (JSON-LD that is not JSON, HTML lxml cannot parse)."""
    message = message_from_bytes(raw, policy=policy.default)
    if not isinstance(message, EmailMessage) or not message.keys():
        return MailMarkup(items=[], sent_at=None, broken="this is not an email message (no headers)")
    found: list[dict[str, Any]] = []
    broken = None
    for html in _html_parts(message):
        try:
            data = extruct.extract(html, syntaxes=["json-ld", "microdata"], uniform=True)
        except (json.JSONDecodeError, ValueError) as exc:
            broken = f"the receipt markup is broken (JSON-LD that is not JSON: {str(exc)[:80]})"
            continue
        for item in [*data.get("json-ld", []), *data.get("microdata", [])]:
            for one in item.get("@graph", [item]) if isinstance(item, dict) else []:
                kind = one.get("@type") if isinstance(one, dict) else None
                if isinstance(kind, str) and kind.rsplit("/", 1)[-1] in _TYPES:
                    found.append(one)
    return MailMarkup(items=found, sent_at=_date(message), broken=None if found else broken)
