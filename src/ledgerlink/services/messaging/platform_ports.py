"""Facebook Messenger and WhatsApp as channels (issue 15, ADR 0023): the Graph API as the
platform speaks it (behind `MessengerApi` / `WhatsAppApi`), the parsed webhook events, and the
records of who is linked, what was sent and which codes are waiting.

Ids only in the clear: a page-scoped id (PSID) or a WhatsApp number is sealed in the channel's
config (`person_channels.sealed`); the lookup tables keep only a keyed digest of it
(`address_key`), so a copy of the database does not list anyone's phone number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MESSENGER = "messenger"
WHATSAPP = "whatsapp"
PLATFORMS = (MESSENGER, WHATSAPP)


class GraphError(Exception):
    """The Graph API refused or could not be reached. `kind` is what the channel does about it:

    - `rate_limited` (codes 4, 17, 32, 613, 80006/80007, 130429, 131048, 131056): wait, retry;
    - `unavailable` (5xx, 1, 2, 1200, timeouts, connection errors): retry with backoff;
    - `token` (190, 102, 463, 467): the operator's token is refused: retry later, say so;
    - `blocked` (551, 200/1545041, 100/2018001): the person cannot be reached (blocked the
      page, left Messenger, no such user): the channel is turned off;
    - `window` (10/2018278, 131047): outside the platform's messaging window: not retried;
    - `refused` (anything else 4xx: a bad request, an unknown template): not retried.

    `code` / `subcode` are the Graph error's numbers, never any text from the platform."""

    def __init__(
        self,
        kind: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"graph {kind} {code}/{subcode}")
        self.kind = kind
        self.code = code
        self.subcode = subcode
        self.status = status
        self.retry_after = retry_after

    @property
    def label(self) -> str:
        """Short, stable and free of outside text: `graph_613`, `graph_10_2018278`, `graph_unreachable`."""
        if self.code is None:
            return f"graph_{self.kind}"[:64]
        return (f"graph_{self.code}" + (f"_{self.subcode}" if self.subcode else ""))[:64]


class MessengerApi(Protocol):
    """The Messenger Platform's Send API and account linking, for one page."""

    async def send(self, payload: dict[str, Any]) -> str:
        """POST /{version}/me/messages; the sent message's id (`mid`). Raises `GraphError`."""
        ...

    async def psid_for(self, account_linking_token: str) -> str:
        """GET /{version}/me?fields=recipient&account_linking_token=...: who started linking."""
        ...

    async def unlink(self, psid: str) -> None:
        """POST /{version}/me/unlink_accounts: the page ends the link (the platform then sends
        the `account_linking` `unlinked` event)."""
        ...


class WhatsAppApi(Protocol):
    """The WhatsApp Business Cloud API, for one business phone number."""

    async def send(self, payload: dict[str, Any]) -> str:
        """POST /{version}/{phone_number_id}/messages; the message's id (`wamid.…`)."""
        ...


class WebhookGate(Protocol):
    """The platform's side of a webhook: the subscription handshake and the body signature."""

    def verify_token(self, offered: str) -> bool:
        """`hub.verify_token` equals the configured token (constant time)."""
        ...

    def signature_ok(self, body: bytes, header: str | None) -> bool:
        """`X-Hub-Signature-256: sha256=<hex>` is the HMAC-SHA256 of the raw body with the app
        secret (constant time)."""
        ...


# --------------------------------------------------------------------------- inbound events


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One thing the platform told us, parsed and checked (`platform_events`).

    kind: text | quick_reply | postback | attachment | account_linked | account_unlinked |
    status | ignored. `key` dedupes it (a message id, or a digest of what identifies it);
    `sender` is the PSID or WhatsApp number as the platform wrote it (kept in memory only)."""

    platform: str
    kind: str
    key: str
    sender: str = ""
    at: datetime | None = None
    text: str = ""
    payload: str = ""  # a quick reply's, button's or postback's payload
    code: str = ""  # account linking: the authorization code
    message_id: str = ""  # a status: the message it is about
    status: str = ""  # a status: sent | delivered | read | failed
    errors: tuple[int, ...] = ()  # a failed status: the error codes
    reason: str = ""  # ignored: why (stable words, no outside text)
    account: str = ""  # WhatsApp: the business phone number id it was sent to
    opens_window: bool = False  # the person acted: the 24-hour window starts again


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class PlatformBindingRecord:
    """A linked Messenger PSID or opted-in WhatsApp number: the channel it feeds."""

    channel_id: str
    person_id: str
    platform: str
    address_key: str  # keyed digest of the PSID / number
    created_at: datetime
    updated_at: datetime
    last_inbound_at: datetime | None = None  # the person's last message: the 24-hour window
    current_thread_id: str | None = None  # where the person's words go (the last thread sent from)


@dataclass(slots=True)
class PlatformMessageRecord:
    """What the person's platform conversation shows of one message: its first platform message
    id, a keyed digest of the state last shown (text and prompt state), and for Messenger the
    first text sealed, so an update can quote it (`sealed` is opened only by the access layer)."""

    channel_id: str
    message_id: str
    person_id: str
    first_mid: str
    state_key: str
    created_at: datetime
    updated_at: datetime
    sealed: bytes | None = None
    level: str | None = None  # the disclosure level the sealed quote was cut at


@dataclass(slots=True)
class PlatformSendRecord:
    """One platform message we sent (first or follow-up), with its delivery state."""

    mid: str
    channel_id: str
    person_id: str
    platform: str
    delivery_id: str
    message_id: str | None
    status: str  # accepted | sent | delivered | read | failed
    created_at: datetime
    updated_at: datetime
    error_code: str | None = None


@dataclass(slots=True)
class PlatformCodeRecord:
    """A pending link: a Messenger authorization code or a WhatsApp opt-in code, by digest."""

    code_key: str
    platform: str
    person_id: str
    expires_at: datetime
    created_at: datetime
    address_key: str | None = None  # the PSID / number it is for
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class MessageMeta:
    """The clear fields of a stored message (no body): enough to pick the platform's rules."""

    id: str
    thread_id: str
    kind: str
    subject_key: str | None
    created_at: datetime


@dataclass
class PlatformHealth:
    """How a platform channel fares right now (process memory; shown in settings)."""

    state: str = "ok"  # ok | rate_limited | token_refused | unreachable
    since: datetime | None = None
    paused_until: datetime | None = None
    last_error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


class PlatformRepository(Protocol):
    """Bindings, what was sent, pending codes and handled webhook events (owner: messaging)."""

    async def binding(self, channel_id: str) -> PlatformBindingRecord | None: ...
    async def binding_by_address(self, platform: str, address_key: str) -> PlatformBindingRecord | None: ...
    async def bindings_of_person(self, person_id: str) -> list[PlatformBindingRecord]: ...
    async def add_binding(self, binding: PlatformBindingRecord) -> None: ...
    async def touch_inbound(self, channel_id: str, *, at: datetime) -> None: ...
    async def set_current_thread(self, channel_id: str, thread_id: str, *, at: datetime) -> None: ...
    async def message(self, channel_id: str, message_id: str) -> PlatformMessageRecord | None: ...
    async def put_message(self, record: PlatformMessageRecord) -> None:
        """Insert, or update `state_key` / `updated_at` of the existing row."""
        ...

    async def add_send(self, send: PlatformSendRecord) -> None: ...
    async def send_for_delivery(self, delivery_id: str) -> PlatformSendRecord | None: ...
    async def send_by_mid(self, mid: str) -> PlatformSendRecord | None: ...
    async def set_send_status(
        self, mid: str, status: str, *, error_code: str | None, at: datetime
    ) -> None: ...
    async def recent_sends(self, channel_id: str, *, limit: int = 5) -> list[PlatformSendRecord]: ...
    async def fail_delivery(self, delivery_id: str, *, error: str, at: datetime) -> None:
        """The platform reported after the fact that a delivered row did not arrive."""
        ...

    async def held_since(self, channel_id: str, since: datetime | None) -> int:
        """Deliveries skipped because the messaging window was closed, since `since`."""
        ...

    async def message_meta(self, message_id: str) -> MessageMeta | None: ...
    async def add_code(self, code: PlatformCodeRecord) -> bool:
        """False (nothing written) when the digest is taken."""
        ...

    async def code(self, code_key: str) -> PlatformCodeRecord | None: ...
    async def use_code(self, code_key: str, *, at: datetime) -> bool:
        """Mark used once (compare-and-set); False when used already."""
        ...

    async def drop_codes(self, person_id: str, platform: str) -> None:
        """Earlier unused codes of the person for the platform (a new one replaces them)."""
        ...

    async def purge(self, *, before: datetime) -> int:
        """Expired codes and handled-event keys older than `before`."""
        ...

    async def seen(self, platform: str, key: str, *, at: datetime) -> bool:
        """Record a webhook event key; True when it was recorded already (a redelivery)."""
        ...
