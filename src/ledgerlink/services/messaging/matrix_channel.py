"""The Matrix channel, outbound (ADR 0012): one direct room per (channel, thread), created on
the first delivery to the thread; each message is one Matrix event, and each later revision
an `m.replace` edit of it; the delivery id is the transaction id, so a retry after a crash
is deduped by the homeserver instead of posting twice. Prompts get numbered options and one
keycap reaction per option for the person to tap.

The person's own messages are not echoed back (they wrote them in Matrix, or in the web app
where they already are): those deliveries are `skipped`.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from typing import Any

import structlog

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.ids import new_id
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging.channel_ports import (
    MatrixClient,
    MatrixError,
    MatrixEventRecord,
    MatrixRoomRecord,
    OutboundMessage,
    SendResult,
)
from ledgerlink.services.messaging.channel_receipts import receipt_html

__all__ = ["KEYCAPS", "MatrixChannel", "edit_content", "parse_mxid", "render"]

log = structlog.get_logger(__name__)

KEYCAPS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣")
HTML_FORMAT = "org.matrix.custom.html"
DEFAULT_ROOM_NAME = "Ledgerlink"
FAREWELL = ("This room gets no more updates from Ledgerlink: the Matrix channel was removed. "
            "You can leave the room.")
# After the homeserver was unreachable, further sends fail fast for this long, so one dead
# homeserver costs the channel worker one timeout, not one per queued thread.
UNREACHABLE_PAUSE = 5.0

# Matrix user IDs: @localpart:server_name. Historical localparts may use any printable ASCII
# but ':'; a server name is a DNS name, IPv4 or [IPv6], with an optional port.
_MXID = re.compile(
    r"@(?P<local>[\x21-\x39\x3b-\x7e]+):"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


def parse_mxid(value: str) -> str:
    """A Matrix user ID as typed by the person, checked; else InvalidInput saying why."""
    mxid = value.strip()
    if not mxid:
        raise InvalidInput("give your Matrix ID, like @name:example.org", code="bad_matrix_id")
    if len(mxid.encode()) > 255:
        raise InvalidInput("a Matrix ID is at most 255 bytes long", code="bad_matrix_id")
    if not mxid.startswith("@"):
        raise InvalidInput("a Matrix ID starts with @, like @name:example.org", code="bad_matrix_id")
    if ":" not in mxid:
        raise InvalidInput("a Matrix ID names its server after a colon, like @name:example.org",
                           code="bad_matrix_id")
    match = _MXID.fullmatch(mxid)
    if match is None or (match["port"] is not None and not 0 < int(match["port"]) < 65536):
        raise InvalidInput("that is not a Matrix ID: @name:example.org, where the name has no spaces "
                           "and the server is a host name with an optional :port", code="bad_matrix_id")
    return mxid


# --------------------------------------------------------------------------- formatting


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n") if p)


def render(message: OutboundMessage) -> dict[str, Any]:
    """The `m.room.message` content of one revision: a plain `body` and the same as HTML."""
    plain: list[str] = []
    rich: list[str] = []
    if message.author == "bank":
        name = message.thread_title or "Your bank"
        mark = " ✓ verified" if message.verified else ""
        plain.append(f"{name}{mark}")
        rich.append(f"<p><strong>{html.escape(name)}</strong>"
                    + (" <em>✓ verified</em>" if message.verified else "") + "</p>")
    text = message.text
    plain.append(text)
    if message.receipt is not None:  # the card's line, then the receipt as a list (issue 11)
        text = text.split("\n", 1)[0]
    head, sep, rest = text.partition(": ")
    if message.kind in ("transaction", "balance", "declined") and sep and "\n" not in head:
        rich.append(f"<p><strong>{html.escape(head)}</strong>: {html.escape(rest)}</p>")
    else:
        rich.append(_paragraphs(text))
    if message.receipt is not None:
        rich.append(receipt_html(message.receipt))
    if message.quick_replies:
        options = [(KEYCAPS[i], label) for i, (_, label) in enumerate(message.quick_replies[: len(KEYCAPS)])]
        plain.append("\n".join(f"Reply {i + 1} — {label}" for i, (_, label) in enumerate(options)))
        plain.append("or tap " + " ".join(key for key, _ in options))
        rich.append("<ol>" + "".join(f"<li>{html.escape(label)}</li>" for _, label in options) + "</ol>")
        rich.append(f"<p><em>Reply with the number, or tap {' '.join(key for key, _ in options)}.</em> "
                    f"<a href=\"{html.escape(message.thread_url)}\">Open in Ledgerlink</a></p>")
    elif message.prompt_status in ("answered", "expired"):
        plain.append(message.prompt_status.capitalize())
        rich.append(f"<p><em>{message.prompt_status.capitalize()}</em></p>")
    return {
        "msgtype": "m.text",
        "body": "\n".join(plain),
        "format": HTML_FORMAT,
        "formatted_body": "".join(rich),
    }


def edit_content(content: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An `m.replace` edit of `event_id` to `content`, with the fallback clients show when they
    do not understand edits."""
    return {
        "msgtype": content["msgtype"],
        "body": "* " + content["body"],
        "format": HTML_FORMAT,
        "formatted_body": "* " + content["formatted_body"],
        "m.new_content": content,
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }


# --------------------------------------------------------------------------- sending


class MatrixChannel:
    """The `Channel` port for kind "matrix". config: {"mxid": "@name:server"}."""

    def __init__(self, deps: Deps, client: MatrixClient) -> None:
        self._deps = deps
        self._client = client
        self._unreachable_until = 0.0

    @property
    def bot(self) -> str:
        return self._client.user_id

    async def send(self, *, config: dict[str, Any], message: OutboundMessage) -> SendResult:
        if message.author == "person":
            return SendResult.skipped("own_message")
        if time.monotonic() < self._unreachable_until:
            return SendResult.retry(error="unreachable")
        try:
            await self._send(str(config["mxid"]), message)
        except MatrixError as exc:
            if exc.retryable:
                if exc.status is None and exc.retry_after is None:
                    self._unreachable_until = time.monotonic() + UNREACHABLE_PAUSE
                return SendResult.retry(exc.retry_after, status_code=exc.status, error=exc.code)
            return SendResult.failed(status_code=exc.status, error=exc.code)
        self._unreachable_until = 0.0
        return SendResult.delivered()

    async def _send(self, mxid: str, message: OutboundMessage) -> None:
        deps = self._deps
        async with deps.uow(readonly=True) as uow:
            room = await uow.matrix.room_for(message.channel_id, message.thread_id)
            first = await uow.matrix.first_event(message.channel_id, message.message_id)
        if room is None:
            room = await self._create_room(mxid, message)
        content = render(message)
        if first is not None and first.delivery_id != message.delivery_id:
            # A later revision: edit the message in place.
            await self._client.send(first.room_id, "m.room.message", edit_content(content, first.event_id),
                                    txn_id=message.delivery_id)
            return
        # The first revision (or its retry: the same transaction id gets the same event back).
        event_id = await self._client.send(room.room_id, "m.room.message", content,
                                           txn_id=message.delivery_id)
        if first is None:
            async with deps.uow() as uow:
                await uow.matrix.add_event(MatrixEventRecord(
                    channel_id=message.channel_id, message_id=message.message_id,
                    person_id=message.person_id, room_id=room.room_id, event_id=event_id,
                    delivery_id=message.delivery_id, created_at=deps.clock.now(),
                ))
                await uow.commit()
        for i, _ in enumerate(message.quick_replies[: len(KEYCAPS)]):
            await self._client.send(room.room_id, "m.reaction", {
                "m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": KEYCAPS[i]},
            }, txn_id=f"{message.delivery_id}.r{i + 1}")

    async def close_rooms(self, rooms: Sequence[str]) -> int:
        """Say in each room that no more updates come, then leave it. Best effort, room by
        room: a room the homeserver refuses (down, already left) is logged and skipped.
        Returns how many rooms were left."""
        left = 0
        for room_id in rooms:
            try:
                await self._client.send(room_id, "m.room.message", {"msgtype": "m.notice", "body": FAREWELL},
                                        txn_id=f"close.{new_id('txn')}")
            except MatrixError as exc:
                log.info("matrix_farewell_failed", error=exc.code)
            try:
                await self._client.leave(room_id)
                left += 1
            except MatrixError as exc:
                log.warning("matrix_leave_failed", error=exc.code)
        return left

    async def _create_room(self, mxid: str, message: OutboundMessage) -> MatrixRoomRecord:
        deps = self._deps
        room_id = await self._client.create_direct_room(name=message.thread_title or DEFAULT_ROOM_NAME,
                                                        invite=mxid)
        room = MatrixRoomRecord(room_id=room_id, channel_id=message.channel_id, person_id=message.person_id,
                                thread_id=message.thread_id, created_at=deps.clock.now())
        async with deps.uow() as uow:
            await uow.matrix.add_room(room)
            await uow.commit()
        log.info("matrix_room_created", channel_id=message.channel_id, thread_id=message.thread_id)
        return room
