"""The platforms' webhook bodies, parsed and checked (pure; the signature was verified before).

Every shape the platforms really send is either read or deliberately ignored, with a stable
reason, never a crash: Messenger's `object: page` with `entry[].messaging[]` (ids as strings
or JSON numbers, legacy `mid.<ts>:<hex>` ids with `seq`, items without a timestamp, text,
attachments without text, quick replies, postbacks with and without referral, `optin`,
`account_linking` linked / unlinked, echoes, deliveries, reads, reactions, edits, standby),
and WhatsApp's `object: whatsapp_business_account` with `entry[].changes[].value.messages[]`
(text, reply buttons, template quick replies, media, reactions, edits) and `statuses[]`
(sent, delivered, read, failed with its error codes). Sizes are bounded and text is checked
as outside text (`domain/text.py`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.text import display_line, display_text
from ledgerlink.services.messaging.platform_ports import MESSENGER, WHATSAPP, InboundEvent

__all__ = ["MAX_ITEMS", "parse_messenger", "parse_whatsapp"]

MAX_ITEMS = 100  # entries per body and items per entry read; the rest is ignored
MAX_TEXT = 4096
MAX_ID = 255
_STATUSES = frozenset({"sent", "delivered", "read", "failed", "deleted", "warning"})


def _id(value: Any) -> str | None:
    """An id as a string: the platform sends strings, older payloads JSON numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 <= value < 10**20 else None
    if isinstance(value, str) and 0 < len(value) <= MAX_ID and value.isprintable():
        return value
    return None


def _of(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else None


def _digest(*parts: Any) -> str:
    raw = json.dumps(parts, separators=(",", ":"), sort_keys=True, default=str)
    return "d:" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _instant_ms(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 10**14:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def _instant_s(value: Any) -> datetime | None:
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        return datetime.fromtimestamp(int(value), UTC)
    return None


def _text(value: Any, field: str) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        text = display_text(value[:MAX_TEXT], field)
    except InvalidInput:
        return None
    return text or None


def _ignored(platform: str, reason: str, key: str = "") -> InboundEvent:
    return InboundEvent(platform=platform, kind="ignored", key=key, reason=reason)


# --------------------------------------------------------------------------- Messenger


def parse_messenger(body: Any) -> list[InboundEvent]:
    if _of(body, "object") != "page":
        return [_ignored(MESSENGER, "not_a_page_event")]
    entries = _of(body, "entry")
    if not isinstance(entries, list):
        return [_ignored(MESSENGER, "no_entries")]
    events: list[InboundEvent] = []
    for entry in entries[:MAX_ITEMS]:
        if not isinstance(entry, dict):
            events.append(_ignored(MESSENGER, "bad_entry"))
            continue
        if isinstance(entry.get("standby"), list):
            events.append(_ignored(MESSENGER, "standby"))  # another app owns the conversation
        items = entry.get("messaging")
        if not isinstance(items, list):
            if "changes" in entry:
                events.append(_ignored(MESSENGER, "page_change"))
            elif not isinstance(entry.get("standby"), list):
                events.append(_ignored(MESSENGER, "no_messaging"))
            continue
        events.extend(_messaging(item) for item in items[:MAX_ITEMS])
    return events


def _messaging(item: Any) -> InboundEvent:
    if not isinstance(item, dict):
        return _ignored(MESSENGER, "bad_item")
    sender = _id(_of(item.get("sender"), "id"))
    at = _instant_ms(item.get("timestamp"))  # some items carry none
    if sender is None:
        return _ignored(MESSENGER, "no_sender")
    base: dict[str, Any] = {"platform": MESSENGER, "sender": sender, "at": at}
    if isinstance(message := item.get("message"), dict):
        return _message(message, base, item.get("timestamp"))
    if isinstance(postback := item.get("postback"), dict):
        payload = postback.get("payload")
        key = _id(postback.get("mid")) or _digest(
            "postback", sender, item.get("timestamp"), payload, postback.get("title")
        )
        if not isinstance(payload, str) or not 0 < len(payload) <= 1000:
            return InboundEvent(
                **base, kind="ignored", key=key, reason="postback_without_payload", opens_window=True
            )
        return InboundEvent(**base, kind="postback", key=key, payload=payload, opens_window=True)
    if isinstance(linking := item.get("account_linking"), dict):
        status = linking.get("status")
        code = linking.get("authorization_code")
        key = _digest("account_linking", sender, status, code, item.get("timestamp"))
        if status == "linked" and isinstance(code, str) and 0 < len(code) <= 256:
            return InboundEvent(**base, kind="account_linked", key=key, code=code)
        if status == "unlinked":
            return InboundEvent(**base, kind="account_unlinked", key=key)
        return InboundEvent(**base, kind="ignored", key=key, reason="bad_account_linking")
    for name, reason in (
        ("optin", "optin"),
        ("delivery", "delivery"),
        ("read", "read"),
        ("reaction", "reaction"),
        ("message_edit", "edit"),
        ("referral", "referral"),
        ("policy-enforcement", "policy_enforcement"),
        ("pass_thread_control", "handover"),
        ("take_thread_control", "handover"),
        ("request_thread_control", "handover"),
    ):
        if name in item:
            # A referral (an m.me link or an ad opened in the conversation) is the person acting:
            # the window opens again, though there is nothing to answer.
            return InboundEvent(
                **base,
                kind="ignored",
                key=_digest(name, sender, item.get("timestamp")),
                reason=reason,
                opens_window=name == "referral",
            )
    return InboundEvent(**base, kind="ignored", key="", reason="unsupported_event")


def _message(message: dict[str, Any], base: dict[str, Any], timestamp: Any) -> InboundEvent:
    sender = base["sender"]
    key = _id(message.get("mid")) or _digest(
        "message", sender, timestamp, message.get("seq"), message.get("text")
    )
    if message.get("is_echo"):
        return InboundEvent(**base, kind="ignored", key=key, reason="echo")
    if message.get("is_deleted") or message.get("is_unsupported"):
        return InboundEvent(
            **base, kind="ignored", key=key, reason="deleted_or_unsupported", opens_window=True
        )
    text = _text(message.get("text"), "message.text")
    quick = _of(message.get("quick_reply"), "payload")
    if isinstance(quick, str) and 0 < len(quick) <= 1000:
        return InboundEvent(
            **base, kind="quick_reply", key=key, payload=quick, text=text or "", opens_window=True
        )
    if text is not None:
        return InboundEvent(**base, kind="text", key=key, text=text, opens_window=True)
    attachments = message.get("attachments")
    if isinstance(attachments, list) and attachments:
        return InboundEvent(**base, kind="attachment", key=key, opens_window=True)
    if "text" in message:
        return InboundEvent(**base, kind="ignored", key=key, reason="invalid_text", opens_window=True)
    return InboundEvent(**base, kind="ignored", key=key, reason="empty_message", opens_window=True)


# --------------------------------------------------------------------------- WhatsApp


def parse_whatsapp(body: Any) -> list[InboundEvent]:
    if _of(body, "object") != "whatsapp_business_account":
        return [_ignored(WHATSAPP, "not_a_whatsapp_event")]
    entries = _of(body, "entry")
    if not isinstance(entries, list):
        return [_ignored(WHATSAPP, "no_entries")]
    events: list[InboundEvent] = []
    for entry in entries[:MAX_ITEMS]:
        changes = _of(entry, "changes")
        if not isinstance(changes, list):
            events.append(_ignored(WHATSAPP, "no_changes"))
            continue
        for change in changes[:MAX_ITEMS]:
            value = _of(change, "value")
            if _of(change, "field") != "messages" or not isinstance(value, dict):
                events.append(_ignored(WHATSAPP, "other_field"))  # templates, account updates, calls
                continue
            account = _id(_of(value.get("metadata"), "phone_number_id")) or ""
            for msg in (
                (value.get("messages") or [])[:MAX_ITEMS] if isinstance(value.get("messages"), list) else []
            ):
                events.append(_wa_message(msg, account))
            statuses = value.get("statuses")
            for status in (statuses or [])[:MAX_ITEMS] if isinstance(statuses, list) else []:
                events.append(_wa_status(status, account))
            if not value.get("messages") and not value.get("statuses"):
                events.append(_ignored(WHATSAPP, "no_messages"))
    return events


def _wa_message(msg: Any, account: str) -> InboundEvent:
    sender = _id(_of(msg, "from"))
    key = _id(_of(msg, "id"))
    if sender is None or key is None or not isinstance(msg, dict):
        return _ignored(WHATSAPP, "bad_message")
    base: dict[str, Any] = {
        "platform": WHATSAPP,
        "sender": sender,
        "key": key,
        "at": _instant_s(msg.get("timestamp")),
        "account": account,
    }
    kind = msg.get("type")
    if kind == "text":
        text = _text(_of(msg.get("text"), "body"), "text.body")
        if text is None:
            return InboundEvent(**base, kind="ignored", reason="invalid_text", opens_window=True)
        return InboundEvent(**base, kind="text", text=text, opens_window=True)
    if kind == "interactive":
        interactive = msg.get("interactive")
        reply = _of(interactive, "button_reply") or _of(interactive, "list_reply")
        payload = _of(reply, "id")
        if isinstance(payload, str) and 0 < len(payload) <= 256:
            return InboundEvent(**base, kind="quick_reply", payload=payload, opens_window=True)
        return InboundEvent(**base, kind="ignored", reason="interactive_without_reply", opens_window=True)
    if kind == "button":  # a template's quick reply button
        payload = _of(msg.get("button"), "payload")
        if isinstance(payload, str) and 0 < len(payload) <= 1000:
            return InboundEvent(**base, kind="quick_reply", payload=payload, opens_window=True)
        return InboundEvent(**base, kind="ignored", reason="button_without_payload", opens_window=True)
    if kind in ("image", "video", "audio", "document", "sticker", "location", "contacts"):
        return InboundEvent(**base, kind="attachment", opens_window=True)
    if kind in ("reaction", "edit", "revoke", "unsupported", "system", "order", "request_welcome"):
        return InboundEvent(**base, kind="ignored", reason=str(kind), opens_window=kind != "system")
    return InboundEvent(**base, kind="ignored", reason="unsupported_type", opens_window=True)


def _wa_status(status: Any, account: str) -> InboundEvent:
    mid = _id(_of(status, "id"))
    state = _of(status, "status")
    if mid is None or state not in _STATUSES or not isinstance(status, dict):
        return _ignored(WHATSAPP, "bad_status")
    errors = status.get("errors")
    codes = tuple(
        int(e["code"])
        for e in (errors if isinstance(errors, list) else [])[:5]
        if isinstance(e, dict) and isinstance(e.get("code"), int) and not isinstance(e["code"], bool)
    )
    recipient = _id(status.get("recipient_id")) or ""
    try:
        recipient = display_line(recipient, "recipient_id")
    except InvalidInput:
        recipient = ""
    return InboundEvent(
        platform=WHATSAPP,
        kind="status",
        key=f"{mid}:{state}",
        sender=recipient,
        at=_instant_s(status.get("timestamp")),
        message_id=mid,
        status=str(state),
        errors=codes,
        account=account,
    )
