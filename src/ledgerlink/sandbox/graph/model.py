"""The simulator's world: simulated people (each with a Messenger PSID and a WhatsApp number),
the two conversations each has with the business, their messaging windows, and the faults a
test asks for. Nothing here is real: no id, token or number belongs to anyone."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
MESSENGER = "messenger"
WHATSAPP = "whatsapp"


class GraphFault(Exception):
    """A Graph API error, answered as the platform does: status 400 and `{"error": {...}}`."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": "Sim" + secrets.token_urlsafe(8),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


@dataclass
class Button:
    """Something the person can tap: kind quick_reply | postback | web_url | account_link |
    account_unlink | reply (WhatsApp reply button or template quick reply)."""

    kind: str
    title: str
    payload: str = ""
    url: str = ""


@dataclass
class Entry:
    """One message in a simulated conversation."""

    id: str
    platform: str
    user: str
    sender: str  # page | user
    at: datetime
    kind: str = "text"  # text | generic | button | receipt | interactive | template | event
    text: str = ""
    title: str = ""
    subtitle: str = ""
    header: str = ""
    footer: str = ""
    buttons: list[Button] = field(default_factory=list)
    status: str = "sent"  # WhatsApp: sent | delivered | read | failed
    error_code: int | None = None
    reply_to: str | None = None
    messaging_type: str | None = None
    tag: str | None = None
    template: str | None = None
    tapped: bool = False  # quick replies disappear once one is tapped

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sender": self.sender,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "text": self.text,
            "title": self.title,
            "subtitle": self.subtitle,
            "header": self.header,
            "footer": self.footer,
            "status": self.status,
            "error_code": self.error_code,
            "reply_to": self.reply_to,
            "messaging_type": self.messaging_type,
            "tag": self.tag,
            "template": self.template,
            "tapped": self.tapped,
            "buttons": [
                {"index": i, "kind": b.kind, "title": b.title, "url": b.url}
                for i, b in enumerate(self.buttons)
            ],
        }


@dataclass
class SimUser:
    key: str  # a short name: pat
    name: str  # shown: Pat (simulated)
    psid: str
    wa_id: str
    last_at: dict[str, datetime] = field(default_factory=dict)  # platform -> the person's last message
    linked: bool = False  # Messenger account linking, as the platform records it
    blocked: bool = False  # the person blocked the page


def new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")


class World:
    def __init__(self, *, business_number: str) -> None:
        self.users: dict[str, SimUser] = {}
        self.entries: list[Entry] = []
        self.faults: dict[str, list[GraphFault]] = {MESSENGER: [], WHATSAPP: []}
        self.linking_tokens: dict[str, tuple[str, datetime]] = {}  # token -> (user key, made at)
        self.subscribed: dict[str, bool | None] = {MESSENGER: None, WHATSAPP: None}
        self._business = business_number
        self._numbers = 0

    def user(self, key: str, *, name: str | None = None, number: str | None = None) -> SimUser:
        key = "".join(c for c in key.lower() if c.isalnum())[:24] or "pat"
        found = self.users.get(key)
        if found is None:
            self._numbers += 1
            wa_id = number or f"1555{secrets.randbelow(10**7):07d}"
            found = SimUser(
                key=key,
                name=name or f"{key.title()} (simulated)",
                psid=str(10**15 + secrets.randbelow(9 * 10**15)),
                wa_id=wa_id,
            )
            self.users[key] = found
        return found

    def by_psid(self, psid: str) -> SimUser | None:
        return next((u for u in self.users.values() if u.psid == psid), None)

    def by_number(self, wa_id: str) -> SimUser | None:
        return next((u for u in self.users.values() if u.wa_id == wa_id), None)

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def conversation(self, platform: str, user: str) -> list[Entry]:
        return [e for e in self.entries if e.platform == platform and e.user == user]

    def add(self, entry: Entry) -> Entry:
        self.entries.append(entry)
        del self.entries[:-2000]  # a long demo keeps the newest 2,000
        return entry

    def fault(self, platform: str) -> GraphFault | None:
        queue = self.faults[platform]
        return queue.pop(0) if queue else None

    def in_window(self, user: SimUser, platform: str, now: datetime, span: timedelta = WINDOW) -> bool:
        last = user.last_at.get(platform)
        return last is not None and timedelta(0) <= now - last < span
