"""The dead-letter stream `<ROOT>_DEAD`, read for operators (`ledgerlink ops dead-letters`,
issue 12, ADR 0027/0032): what went there, from which consumer, after how many deliveries, and
why, as codes and ids. The payload is never read out: events hold ids only, but a poison
message is by definition something this code does not understand."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import nats
import nats.js.errors

__all__ = ["DeadLetter", "read_dead_letters", "stream_names"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    seq: int  # in the dead-letter stream
    at: datetime | None  # when it was dead-lettered
    subject: str  # the original subject, <root>.events.<EventType>
    event_id: str  # the outbox event id (Nats-Msg-Id of the original), or "-"
    consumer: str  # the durable consumer that gave up
    deliveries: int | None  # how many times it was delivered (None: dead-lettered by older code)
    reason: str  # an error code: the exception type, unknown_event, gave_up_after_crashes


def stream_names(root: str) -> tuple[str, str]:
    """(events stream, dead-letter stream) for a subject root, as `JetStreamBus` names them."""
    prefix = root.upper().replace("-", "_")
    return f"{prefix}_EVENTS", f"{prefix}_DEAD"


async def read_dead_letters(url: str, root: str, *, limit: int = 50,
                            wait: float = 5.0) -> tuple[int, list[DeadLetter]]:
    """(how many there are in all, the newest `limit` of them, oldest first). Raises
    `ConnectionError` when NATS cannot be reached within `wait` seconds."""
    try:
        async with asyncio.timeout(wait * 2):
            nc = await nats.connect(url, connect_timeout=wait, allow_reconnect=False,
                                    max_reconnect_attempts=1, error_cb=_quiet)
    except Exception as exc:
        raise ConnectionError(f"NATS at {url} cannot be reached ({type(exc).__name__})") from None
    try:
        js = nc.jetstream(timeout=wait)
        _, dead = stream_names(root)
        try:
            info = await js.stream_info(dead)
        except nats.js.errors.NotFoundError:
            return 0, []  # no process of this root has run yet: nothing went wrong either
        state = info.state
        out: list[DeadLetter] = []
        first = max(state.first_seq, state.last_seq - limit + 1)
        for seq in range(first, state.last_seq + 1) if state.messages else ():
            try:
                msg = await js.get_msg(dead, seq)
            except nats.js.errors.NotFoundError:
                continue  # deleted (the stream's limits)
            headers = msg.headers or {}
            original = headers.get("Nats-Msg-Id", "")
            event_id = headers.get("Ledgerlink-Event-Id") or original.split(":", 1)[0] or "-"
            deliveries = headers.get("Ledgerlink-Deliveries", "")
            out.append(DeadLetter(
                seq=seq, at=msg.time, subject=headers.get("Ledgerlink-Subject", msg.subject or "-"),
                event_id=event_id, consumer=headers.get("Ledgerlink-Consumer", "-"),
                deliveries=int(deliveries) if deliveries.isdigit() else None,
                reason=headers.get("Ledgerlink-Reason", "-"),
            ))
        return state.messages, out
    finally:
        await nc.close()



async def _quiet(exc: Exception) -> None:
    """The client's own errors: the caller reports one clear line instead of tracebacks."""
