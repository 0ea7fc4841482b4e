"""The Messenger Platform as the simulator plays it: the Send API's checks (recipient, messaging
type and tags, the 24-hour window, quick replies, generic / button / receipt templates, the
documented limits and error codes) and the webhook bodies a person's actions produce."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ledgerlink.sandbox.graph.model import (
    HUMAN_AGENT_WINDOW,
    MESSENGER,
    Button,
    Entry,
    GraphFault,
    SimUser,
    World,
    new_id,
)

TAGS = frozenset({"CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT"})
OUTSIDE_WINDOW = "(#10) This message is sent outside of allowed window."


def _str(obj: Any, name: str, limit: int, *, required: bool = True) -> str:
    value = obj.get(name) if isinstance(obj, dict) else None
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise GraphFault(100, f"(#100) {name} must be a string of 1 to {limit} characters")
    return value


def _buttons(raw: Any, *, limit: int = 3) -> list[Button]:
    if not isinstance(raw, list) or not 0 < len(raw) <= limit:
        raise GraphFault(100, f"(#100) buttons must be a list of 1 to {limit}")
    out = []
    for b in raw:
        kind = b.get("type") if isinstance(b, dict) else None
        if kind == "web_url":
            out.append(Button("web_url", _str(b, "title", 20), url=_str(b, "url", 2000)))
        elif kind == "postback":
            out.append(Button("postback", _str(b, "title", 20), payload=_str(b, "payload", 1000)))
        elif kind == "account_link":
            out.append(Button("account_link", "Log in", url=_str(b, "url", 2000)))
        elif kind == "account_unlink":
            out.append(Button("account_unlink", "Log out"))
        else:
            raise GraphFault(100, "(#100) unsupported button type")
    return out


def accept_send(world: World, body: Any, now: datetime) -> Entry:
    """POST /{version}/me/messages: the message as the person will see it, or a `GraphFault`."""
    psid = body.get("recipient", {}).get("id") if isinstance(body, dict) else None
    user = world.by_psid(str(psid)) if isinstance(psid, str | int) else None
    if user is None:
        raise GraphFault(100, "(#100) No matching user found", subcode=2018001)
    if user.blocked:
        raise GraphFault(551, "This person isn't available right now.", subcode=1545041)
    if (fault := world.fault(MESSENGER)) is not None:
        raise fault
    kind = body.get("messaging_type")
    tag = body.get("tag")
    if kind not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
        raise GraphFault(100, "(#100) messaging_type must be RESPONSE, UPDATE or MESSAGE_TAG")
    if kind == "MESSAGE_TAG":
        if tag not in TAGS:
            raise GraphFault(100, "(#100) Tag is invalid.", subcode=2018157)
        if tag == "HUMAN_AGENT" and not world.in_window(user, MESSENGER, now, HUMAN_AGENT_WINDOW):
            raise GraphFault(10, OUTSIDE_WINDOW, subcode=2018278)
    elif not world.in_window(user, MESSENGER, now):
        raise GraphFault(10, OUTSIDE_WINDOW, subcode=2018278)
    entry = Entry(
        id=new_id("m_"),
        platform=MESSENGER,
        user=user.key,
        sender="page",
        at=now,
        messaging_type=str(kind),
        tag=tag if isinstance(tag, str) else None,
    )
    message = body.get("message")
    if not isinstance(message, dict):
        raise GraphFault(100, "(#100) message is required")
    if "text" in message:
        entry.text = _str(message, "text", 2000)
    elif isinstance(message.get("attachment"), dict):
        _template(entry, message["attachment"])
    else:
        raise GraphFault(100, "(#100) message must have text or an attachment")
    replies = message.get("quick_replies")
    if replies is not None:
        if not isinstance(replies, list) or not 0 < len(replies) <= 13:
            raise GraphFault(100, "(#100) quick_replies must be a list of 1 to 13")
        for r in replies:
            if not isinstance(r, dict) or r.get("content_type") != "text":
                raise GraphFault(100, "(#100) quick reply content_type must be text")
            entry.buttons.append(
                Button("quick_reply", _str(r, "title", 20), payload=_str(r, "payload", 1000))
            )
    return world.add(entry)


def _template(entry: Entry, attachment: dict[str, Any]) -> None:
    payload = attachment.get("payload")
    if attachment.get("type") != "template" or not isinstance(payload, dict):
        raise GraphFault(100, "(#100) only template attachments are simulated")
    kind = payload.get("template_type")
    if kind == "generic":
        elements = payload.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 10:
            raise GraphFault(100, "(#100) elements must be a list of 1 to 10")
        first = elements[0]
        entry.kind, entry.title = "generic", _str(first, "title", 80)
        entry.subtitle = _str(first, "subtitle", 80, required=False)
        if first.get("buttons") is not None:
            entry.buttons = _buttons(first.get("buttons"))
    elif kind == "button":
        entry.kind, entry.text = "button", _str(payload, "text", 640)
        entry.buttons = _buttons(payload.get("buttons"))
    elif kind == "receipt":
        _receipt(entry, payload)
    else:
        raise GraphFault(100, "(#100) unsupported template_type")


def _number(obj: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    """A documented number field: a JSON number or a decimal string (never a float's rounding
    in the simulator: it is shown as given)."""
    value = obj.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GraphFault(100, f"(#100) {name} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise GraphFault(100, f"(#100) {name} must be a number") from None
    if not number.is_finite():
        raise GraphFault(100, f"(#100) {name} must be a number")
    return str(value)


def _receipt(entry: Entry, payload: dict[str, Any]) -> None:
    """The receipt template's documented fields: the four strings, up to 100 elements (title,
    price; quantity, currency optional), the summary (total_cost required), order_url."""
    for name in ("recipient_name", "order_number", "currency", "payment_method"):
        _str(payload, name, 200)
    _str(payload, "merchant_name", 200, required=False)
    if payload.get("order_url") is not None:
        _str(payload, "order_url", 2000)
    summary = payload.get("summary")
    if not isinstance(summary, dict):
        raise GraphFault(100, "(#100) summary.total_cost is required")
    total = _number(summary, "total_cost", required=True)
    for name in ("subtotal", "shipping_cost", "total_tax"):
        _number(summary, name)
    elements = payload.get("elements", [])
    if not isinstance(elements, list) or len(elements) > 100:
        raise GraphFault(100, "(#100) elements must be a list of at most 100")
    lines = []
    for element in elements:
        if not isinstance(element, dict):
            raise GraphFault(100, "(#100) an element must be an object")
        title = _str(element, "title", 80)
        price = _number(element, "price", required=True)
        quantity = element.get("quantity")
        whole = isinstance(quantity, int) and not isinstance(quantity, bool) and quantity >= 0
        if quantity is not None and not whole:
            raise GraphFault(100, "(#100) quantity must be a whole number")
        _str(element, "currency", 3, required=False)
        lines.append(f"{quantity or 1}× {title} {price}")
    entry.kind = "receipt"
    entry.title = f"Receipt {payload['order_number']}"
    entry.subtitle = f"{total} {payload['currency']} · {payload['payment_method']}"
    entry.header = str(payload.get("merchant_name") or "")
    entry.text = "\n".join(lines)


# --------------------------------------------------------------------------- webhook bodies


def envelope(world_page_id: str, at: datetime, item: dict[str, Any]) -> dict[str, Any]:
    ms = int(at.timestamp() * 1000)
    return {"object": "page", "entry": [{"id": world_page_id, "time": ms, "messaging": [item]}]}


def _item(user: SimUser, page_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "sender": {"id": user.psid},
        "recipient": {"id": page_id},
        "timestamp": int(at.timestamp() * 1000),
        **fields,
    }


def text_item(user: SimUser, page_id: str, at: datetime, text: str) -> tuple[dict[str, Any], str]:
    mid = new_id("m_")
    return _item(user, page_id, at, message={"mid": mid, "text": text}), mid


def quick_reply_item(user: SimUser, page_id: str, at: datetime, button: Button) -> tuple[dict[str, Any], str]:
    mid = new_id("m_")
    return _item(
        user,
        page_id,
        at,
        message={"mid": mid, "text": button.title, "quick_reply": {"payload": button.payload}},
    ), mid


def postback_item(user: SimUser, page_id: str, at: datetime, button: Button) -> tuple[dict[str, Any], str]:
    mid = new_id("m_")
    return _item(
        user, page_id, at, postback={"mid": mid, "title": button.title, "payload": button.payload}
    ), mid


def linking_item(user: SimUser, page_id: str, at: datetime, *, code: str | None) -> dict[str, Any]:
    linking: dict[str, Any] = {"status": "linked" if code else "unlinked"}
    if code:
        linking["authorization_code"] = code
    return _item(user, page_id, at, account_linking=linking)
