"""The WhatsApp Business Cloud API as the simulator plays it: text, interactive reply buttons
and approved templates (their definitions, parameter counts and quick reply buttons), the
24-hour customer-service window (a free-form message outside it is accepted and then fails
with 131047, as the platform does), and the webhook bodies: messages and statuses."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ledgerlink.sandbox.graph.model import WHATSAPP, Button, Entry, GraphFault, SimUser, World, new_id

_PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")


def _str(obj: Any, name: str, limit: int) -> str:
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise GraphFault(100, f"(#100) Param {name} must be a string of 1 to {limit} characters")
    return value


def _component(definition: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in definition.get("components", []) if c.get("type") == kind), None)


def accept_send(
    world: World, templates: dict[tuple[str, str], dict[str, Any]], body: Any, now: datetime
) -> tuple[Entry, bool]:
    """POST /{version}/{phone_number_id}/messages: (the message, whether it will be delivered)."""
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        raise GraphFault(100, "(#100) messaging_product must be whatsapp")
    to = body.get("to")
    user = world.by_number(str(to)) if isinstance(to, str) else None
    if user is None:
        raise GraphFault(131030, "Recipient phone number not in allowed list")
    if (fault := world.fault(WHATSAPP)) is not None:
        raise fault
    entry = Entry(
        id="wamid." + new_id("HBg"),
        platform=WHATSAPP,
        user=user.key,
        sender="page",
        at=now,
        status="accepted",
    )
    context = body.get("context")
    if isinstance(context, dict) and isinstance(context.get("message_id"), str):
        entry.reply_to = context["message_id"]
    kind = body.get("type")
    free_form = True
    if kind == "text":
        entry.text = _str(body.get("text"), "body", 4096)
    elif kind == "interactive":
        _interactive(entry, body.get("interactive"))
    elif kind == "template":
        _template(entry, templates, body.get("template"))
        free_form = False
    else:
        raise GraphFault(100, "(#100) only text, interactive and template messages are simulated")
    deliverable = not free_form or world.in_window(user, WHATSAPP, now)
    return world.add(entry), deliverable


def _interactive(entry: Entry, interactive: Any) -> None:
    if not isinstance(interactive, dict) or interactive.get("type") != "button":
        raise GraphFault(100, "(#100) only interactive reply buttons are simulated")
    entry.kind = "interactive"
    entry.text = _str(interactive.get("body"), "text", 1024)
    action = interactive.get("action")
    buttons = action.get("buttons") if isinstance(action, dict) else None
    if not isinstance(buttons, list) or not 0 < len(buttons) <= 3:
        raise GraphFault(100, "(#100) action.buttons must be a list of 1 to 3")
    for b in buttons:
        reply = b.get("reply") if isinstance(b, dict) and b.get("type") == "reply" else None
        entry.buttons.append(Button("reply", _str(reply, "title", 20), payload=_str(reply, "id", 256)))
    if len({b.title for b in entry.buttons}) != len(entry.buttons):
        raise GraphFault(131009, "Button titles must be unique")


def _template(entry: Entry, templates: dict[tuple[str, str], dict[str, Any]], template: Any) -> None:
    name = template.get("name") if isinstance(template, dict) else None
    language = template.get("language", {}).get("code") if isinstance(template, dict) else None
    definition = templates.get((str(name), str(language)))
    if definition is None:
        raise GraphFault(132001, "Template name does not exist in the translation")
    given = {c.get("type"): c for c in template.get("components", []) if isinstance(c, dict)}
    body = _component(definition, "BODY") or {"text": ""}
    wanted = len(set(_PLACEHOLDER.findall(body["text"])))
    params = [p.get("text") for p in given.get("body", {}).get("parameters", []) if isinstance(p, dict)]
    if len(params) != wanted or not all(isinstance(p, str) and p and "\n" not in p for p in params):
        raise GraphFault(132000, "Number of parameters does not match the expected number of params")
    entry.kind, entry.template = "template", str(name)
    entry.text = _PLACEHOLDER.sub(lambda m: str(params[int(m[1]) - 1]), body["text"])
    header = _component(definition, "HEADER")
    footer = _component(definition, "FOOTER")
    entry.header = str(header.get("text", "")) if header else ""
    entry.footer = str(footer.get("text", "")) if footer else ""
    buttons = (_component(definition, "BUTTONS") or {}).get("buttons", [])
    payloads = {
        int(c.get("index", -1)): c
        for c in template.get("components", [])
        if isinstance(c, dict) and c.get("type") == "button" and str(c.get("index", "")).isdigit()
    }
    for index, button in enumerate(buttons):
        given_button = payloads.get(index, {})
        payload = next(
            (p.get("payload") for p in given_button.get("parameters", []) if isinstance(p, dict)), ""
        )
        entry.buttons.append(
            Button("reply", str(button.get("text", "")), payload=str(payload or button["text"]))
        )


# --------------------------------------------------------------------------- webhook bodies


def envelope(world: World, config: Any, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": config.waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": config.business_number,
                                "phone_number_id": config.phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def message_value(user: SimUser, at: datetime, message: dict[str, Any]) -> dict[str, Any]:
    return {
        "contacts": [{"profile": {"name": user.name}, "wa_id": user.wa_id}],
        "messages": [
            {
                "from": user.wa_id,
                "id": "wamid." + new_id("HBg"),
                "timestamp": str(int(at.timestamp())),
                **message,
            }
        ],
    }


def status_value(
    entry: Entry, user: SimUser, at: datetime, status: str, *, error: int | None = None
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "status": status,
        "timestamp": str(int(at.timestamp())),
        "recipient_id": user.wa_id,
    }
    if status != "failed":
        item["conversation"] = {
            "id": "sim" + entry.id[-12:],
            "origin": {"type": "utility" if entry.template else "service"},
        }
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "utility" if entry.template else "service",
        }
    else:
        item["errors"] = [
            {
                "code": error or 131026,
                "title": "Re-engagement message" if error == 131047 else "Message undeliverable",
                "message": "Re-engagement message" if error == 131047 else "Message undeliverable",
            }
        ]
    return {"statuses": [item]}
