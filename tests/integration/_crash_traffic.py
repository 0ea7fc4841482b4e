"""What the scale-out crash test sends and watches (issue 12): a bank that signs each event when
it leaves and resends every one not answered 2xx (to the other api process), and one WebSocket
client per person that reconnects to the other gateway when its own dies, resuming from its
per-thread marks, and keeps every frame it got (duplicates included)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from ledgerlink.adapters.webhooks import StandardWebhooksSigner

EVENTS_PATH = "/partners/sandbox-bank/events"
CONCURRENCY = 8  # the bank's connections in flight


@dataclass
class Person:
    person_id: str
    cookie: str
    account_id: str
    currency: str


def bank_event(person: Person, run: str, index: int) -> tuple[str, bytes]:
    body = {"type": "transaction.updated", "timestamp": datetime.now(UTC).isoformat(), "data": {
        "consent_id": None, "account_id": person.account_id, "transaction": {
            "transaction_id": f"btx_{run}_{index:06d}", "account_id": person.account_id,
            "status": "pending", "pending_transaction_id": None, "amount": "-4.50",
            "currency": person.currency, "booking_date": None, "value_date": None,
            "merchant_name": f"Crash {index}", "descriptor": f"CRASH {index}", "mcc": "5814"}}}
    return f"msg_{run}_{index:06d}", json.dumps(body, separators=(",", ":")).encode()


class Bank:
    """Sends queued events to the api processes; an event not answered 2xx goes back in the
    queue and is sent again, to the other api process, as a bank retries."""

    def __init__(self, persons: list[Person], run: str, count: int, secret: str, apis: list[str]) -> None:
        self.events = [bank_event(persons[i % len(persons)], run, i) for i in range(count)]
        self.secret, self.apis = secret, apis
        self.acked: set[int] = set()  # answered 202: stored by this send
        # answered 200 already_received to a resend (stored by an attempt whose answer was lost)
        self.known: set[int] = set()
        self.conflicts: set[int] = set()  # answered 409: the same id with a different body (a defect)
        self.sent: Counter[int] = Counter()
        self.answers: Counter[str] = Counter()  # status codes, and "dropped" (no answer)
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.signer = StandardWebhooksSigner()

    @property
    def resent(self) -> int:
        return sum(n - 1 for n in self.sent.values() if n > 1)

    def release(self, indexes: list[int]) -> None:
        for i in indexes:
            self.queue.put_nowait(i)

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(timeout=5.0, limits=limits) as http:
            await asyncio.gather(*(self._sender(http, n) for n in range(CONCURRENCY)))

    async def _sender(self, http: httpx.AsyncClient, n: int) -> None:
        while True:
            i = await self.queue.get()
            self.sent[i] += 1
            msg_id, body = self.events[i]
            api = self.apis[(i + self.sent[i]) % len(self.apis)]  # a retry goes to the other one
            headers = {**self.signer.sign(self.secret, msg_id, datetime.now(UTC), body),
                       "content-type": "application/json"}
            try:
                resp = await http.post(f"{api}{EVENTS_PATH}", content=body, headers=headers)
            except httpx.TransportError:
                self.answers["dropped"] += 1
                resp = None
            if resp is not None:
                code = resp.json().get("code") if resp.status_code >= 300 else None
                self.answers[f"{resp.status_code} {code}" if code else str(resp.status_code)] += 1
            if resp is not None and resp.status_code == 202:
                self.acked.add(i)
            elif resp is not None and resp.status_code == 200:  # already_received: the bank stops
                self.known.add(i)
            elif resp is not None and resp.status_code == 409:  # never for a resend of one body
                self.conflicts.add(i)
            else:
                asyncio.get_running_loop().call_later(0.2, self.queue.put_nowait, i)
            self.queue.task_done()


@dataclass
class Watcher:
    """One person's browser tab: every message frame it got, its marks per thread."""

    person: Person
    gateways: list[str]
    first: int
    frames: list[dict[str, Any]] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)
    connects: int = 0
    on: int | None = None  # the gateway it is connected to now

    def take(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "message":
            self.frames.append(frame)
            self.marks[frame["thread_id"]] = max(self.marks.get(frame["thread_id"], 0), frame["rev"])

    async def run(self) -> None:
        turn = self.first
        while True:
            url = self.gateways[turn % len(self.gateways)]
            with contextlib.suppress(OSError, TimeoutError, WebSocketException, InvalidHandshake):
                async with connect(url, additional_headers={"Cookie": self.person.cookie},
                                   open_timeout=3, max_size=None) as ws:
                    self.connects, self.on = self.connects + 1, turn % len(self.gateways)
                    # threads it knows from its marks, any other thread from its start
                    await ws.send(json.dumps({"type": "resume", "threads": dict(self.marks), "all": True}))
                    async for raw in ws:
                        self.take(json.loads(raw))
            self.on = None
            turn += 1  # its gateway died (or was not up): the other one
            await asyncio.sleep(random.uniform(0.05, 0.2))

    def latest(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.frames:
            out[f["message_id"]] = max(out.get(f["message_id"], 0), f["rev"])
        return out

    def duplicates(self) -> int:
        pairs = Counter((f["message_id"], f["rev"]) for f in self.frames)
        return sum(n - 1 for n in pairs.values())

    def out_of_order(self) -> int:
        """Frames whose rev is below an earlier frame's in the same thread."""
        high: dict[str, int] = {}
        bad = 0
        for f in self.frames:
            if f["rev"] < high.get(f["thread_id"], 0):
                bad += 1
            high[f["thread_id"]] = max(high.get(f["thread_id"], 0), f["rev"])
        return bad


@dataclass
class Figures:
    events: int
    acknowledged: int = 0
    already_received: int = 0  # 200 already_received to a resend (the first answer was lost)
    conflicts: int = 0  # 409 to a resend of the same body: must be 0
    applied: int = 0
    delivered: int = 0
    duplicates: int = 0  # frames a client got a second time (same message and rev)
    duplicated: int = 0  # bank transactions stored or shown as a message more than once
    lost: int = 0  # acknowledged but not applied, or applied but never shown to its client
    out_of_order: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    resent: int = 0
    reconnects: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    outbox: int = -1
    pending: int = -1
    unapplied: int = -1
    dead_letters: int = -1  # all of them, the poison message's included
    poison_dead: int = 0  # dead letters of the poison message (one per consumer of its subject)
    poison_expected: int = 0
    dead_by_consumer: dict[str, int] = field(default_factory=dict)  # every other one: a defect
    restart_p50: float = 0.0
    seconds: float = 0.0

    def line(self, name: str = "cluster crash test") -> str:
        kills = ", ".join(f"{role} {n}" for role, n in sorted(self.kills.items()))
        return (f"{name}: {self.events} events, acknowledged {self.acknowledged} (+ {self.already_received} "
                f"already received, {self.conflicts} conflicts), applied {self.applied}, "
                f"delivered {self.delivered}, duplicates {self.duplicates}, lost {self.lost}, "
                f"duplicated {self.duplicated}, out of order {self.out_of_order}; kills "
                f"{sum(self.kills.values())} ({kills}); resent {self.resent}, reconnects {self.reconnects}; "
                f"outbox {self.outbox}, consumer pending {self.pending}, unapplied {self.unapplied}, "
                f"dead letters {self.dead_letters} (poison {self.poison_dead} of {self.poison_expected}, "
                f"others by consumer {self.dead_by_consumer or 0}); restart p50 {self.restart_p50:.1f} s; "
                f"{self.seconds:.0f} s")
