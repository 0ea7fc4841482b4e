"""The Graph API simulator: the business side (what the platform calls), the person side (what
the conversation page and tests do) and the signed webhook deliveries between them.

Deliveries are signed like the platform signs them (`X-Hub-Signature-256: sha256=<HMAC of the
raw body with the app secret>`, and the legacy SHA-1 `X-Hub-Signature`), in order per
platform, retried a few times; before the first one the simulator runs the subscription
handshake (`hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`) as the platform does
when a webhook is set up.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from ledgerlink.sandbox._push import Pusher
from ledgerlink.sandbox.graph import messenger_sim, whatsapp_sim
from ledgerlink.sandbox.graph.config import GraphSimConfig
from ledgerlink.sandbox.graph.model import MESSENGER, WHATSAPP, Entry, GraphFault, SimUser, World, new_id

log = logging.getLogger("ledgerlink.sandbox.graph")

LINKING_TOKEN_TTL = timedelta(minutes=15)


@dataclass
class Delivery:
    platform: str
    body: bytes
    attempts: int = 0
    status: str = "pending"
    last_status_code: int | None = None
    history: list[str] = field(default_factory=list)


class _Pusher(Pusher[Delivery]):
    def __init__(self, sim: GraphSim) -> None:
        config = sim.config
        super().__init__(
            max_attempts=config.webhook_max_attempts,
            backoff_base=config.webhook_backoff_base_seconds,
            backoff_cap=5.0,
            timeout=config.webhook_timeout_seconds,
            http=config.http,
            task_name="graph-sim-webhook",
        )
        self._sim = sim

    def push(self, delivery: Delivery) -> None:
        self._enqueue(delivery.platform, delivery)

    async def _handle(self, key: str, item: Delivery) -> None:
        url = self._sim.callback(key)
        if url is None or not await self._subscribe(key, url):
            item.status = "not_subscribed"
            return
        secret = self._sim.app_secret(key).encode()

        def request() -> tuple[bytes, Mapping[str, str]]:
            return item.body, {
                "content-type": "application/json",
                "x-hub-signature-256": "sha256=" + hmac.new(secret, item.body, hashlib.sha256).hexdigest(),
                "x-hub-signature": "sha1=" + hmac.new(secret, item.body, hashlib.sha1).hexdigest(),
            }

        await self._post(
            item, url, request=request, settle=lambda resp: "delivered" if resp.status_code == 200 else None
        )

    async def _subscribe(self, platform: str, url: str) -> bool:
        world = self._sim.world
        if world.subscribed[platform]:
            return True
        assert self._http is not None
        challenge = secrets.token_urlsafe(12)
        query = {
            "hub.mode": "subscribe",
            "hub.verify_token": self._sim.verify_token(platform),
            "hub.challenge": challenge,
        }
        try:
            resp = await self._http.get(url, params=query, timeout=self._timeout)
        except httpx.HTTPError:
            world.subscribed[platform] = False
            return False
        world.subscribed[platform] = resp.status_code == 200 and resp.text == challenge
        return bool(world.subscribed[platform])


class GraphSim:
    def __init__(self, config: GraphSimConfig) -> None:
        self.config = config
        self.world = World(business_number=config.business_number)
        self.templates = {(d["name"], d["language"]): d for d in config.templates}
        self.deliveries: list[Delivery] = []
        self._pusher = _Pusher(self)
        self._later: set[asyncio.Task[None]] = set()
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if not self._started:  # embedded (mounted) and served alone both start it: once
            self._started = True
            await self._pusher.start()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for task in list(self._later):
            task.cancel()
        await asyncio.gather(*self._later, return_exceptions=True)
        await self._pusher.stop()

    async def drain(self) -> None:
        while self._later:
            await asyncio.gather(*list(self._later), return_exceptions=True)
        await self._pusher.drain()

    def callback(self, platform: str) -> str | None:
        return self.config.messenger_callback if platform == MESSENGER else self.config.whatsapp_callback

    def app_secret(self, platform: str) -> str:
        return self.config.messenger_app_secret if platform == MESSENGER else self.config.whatsapp_app_secret

    def verify_token(self, platform: str) -> str:
        return (
            self.config.messenger_verify_token if platform == MESSENGER else self.config.whatsapp_verify_token
        )

    def _deliver(self, platform: str, body: dict[str, Any]) -> None:
        delivery = Delivery(platform, json.dumps(body, separators=(",", ":")).encode())
        self.deliveries.append(delivery)
        del self.deliveries[:-500]
        self._pusher.push(delivery)

    # ------------------------------------------------------------------ the business side (Graph API)

    def messenger_send(self, body: Any) -> dict[str, Any]:
        entry = messenger_sim.accept_send(self.world, body, self.config.clock.now())
        user = self.world.users[entry.user]
        return {"recipient_id": user.psid, "message_id": entry.id}

    def whatsapp_send(self, body: Any) -> dict[str, Any]:
        now = self.config.clock.now()
        entry, deliverable = whatsapp_sim.accept_send(self.world, self.templates, body, now)
        user = self.world.users[entry.user]
        if deliverable:
            entry.status = "sent"
            self._status(entry, user, "sent")
            self._later_status(entry, user, "delivered", self.config.status_delay_seconds)
        else:
            entry.status, entry.error_code = "failed", 131047
            self._status(entry, user, "failed", error=131047)
        return {
            "messaging_product": "whatsapp",
            "contacts": [{"input": user.wa_id, "wa_id": user.wa_id}],
            "messages": [{"id": entry.id}],
        }

    def _status(self, entry: Entry, user: SimUser, status: str, *, error: int | None = None) -> None:
        now = self.config.clock.now()
        self._deliver(
            WHATSAPP,
            whatsapp_sim.envelope(
                self.world, self.config, whatsapp_sim.status_value(entry, user, now, status, error=error)
            ),
        )

    def _later_status(self, entry: Entry, user: SimUser, status: str, delay: float) -> None:
        if delay <= 0:
            entry.status = status
            self._status(entry, user, status)
            return

        async def later() -> None:
            await asyncio.sleep(delay)
            if entry.status == "sent":
                entry.status = status
                self._status(entry, user, status)

        task = asyncio.create_task(later())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def psid_for(self, token: str) -> str:
        made = self.world.linking_tokens.get(token)
        if made is None or self.config.clock.now() - made[1] > LINKING_TOKEN_TTL:
            raise GraphFault(100, "(#100) Invalid account_linking_token")
        return self.world.users[made[0]].psid

    def unlink(self, psid: str) -> dict[str, Any]:
        user = self.world.by_psid(psid)
        if user is None:
            raise GraphFault(100, "(#100) No matching user found", subcode=2018001)
        if user.linked:
            user.linked = False
            now = self.config.clock.now()
            self._event(user, now, messenger_sim.linking_item(user, self.config.page_id, now, code=None))
        return {"result": "unlink account success"}

    # ------------------------------------------------------------------ the person side

    def _event(self, user: SimUser, at: Any, item: dict[str, Any]) -> None:
        self.world.add(
            Entry(
                id=new_id("ev_"),
                platform=MESSENGER,
                user=user.key,
                sender="user",
                at=at,
                kind="event",
                text="Account linked" if "authorization_code" in json.dumps(item) else "Account unlinked",
            )
        )
        self._deliver(MESSENGER, messenger_sim.envelope(self.config.page_id, at, item))

    def say(self, platform: str, user_key: str, text: str) -> Entry:
        """The person types and sends `text`."""
        user = self.world.user(user_key)
        now = self.config.clock.now()
        user.last_at[platform] = now
        text = text.strip()[:4096]
        if platform == MESSENGER:
            item, mid = messenger_sim.text_item(user, self.config.page_id, now, text)
            self._deliver(MESSENGER, messenger_sim.envelope(self.config.page_id, now, item))
        else:
            value = whatsapp_sim.message_value(user, now, {"type": "text", "text": {"body": text}})
            mid = value["messages"][0]["id"]
            self._deliver(WHATSAPP, whatsapp_sim.envelope(self.world, self.config, value))
        return self.world.add(
            Entry(id=mid, platform=platform, user=user.key, sender="user", at=now, text=text)
        )

    def tap(self, platform: str, user_key: str, entry_id: str, index: int) -> str | None:
        """The person taps button `index` of a message; a URL when the tap opens a page."""
        user = self.world.user(user_key)
        entry = self.world.entry(entry_id)
        if entry is None or entry.user != user.key or not 0 <= index < len(entry.buttons):
            raise GraphFault(100, "no such button")
        button = entry.buttons[index]
        now = self.config.clock.now()
        if button.kind == "web_url":
            return button.url
        if button.kind == "account_link":
            token = secrets.token_urlsafe(24)
            self.world.linking_tokens[token] = (user.key, now)
            back = f"{self.config.public_url}/sim/messenger/linked?" + urlencode(
                {"account_linking_token": token}
            )
            joiner = "&" if "?" in button.url else "?"
            return button.url + joiner + urlencode({"account_linking_token": token, "redirect_uri": back})
        if button.kind == "account_unlink":
            self.unlink(user.psid)
            return None
        user.last_at[platform] = now
        if button.kind == "quick_reply":
            entry.tapped = True
            item, mid = messenger_sim.quick_reply_item(user, self.config.page_id, now, button)
            self._deliver(MESSENGER, messenger_sim.envelope(self.config.page_id, now, item))
        elif button.kind == "postback":
            item, mid = messenger_sim.postback_item(user, self.config.page_id, now, button)
            self._deliver(MESSENGER, messenger_sim.envelope(self.config.page_id, now, item))
        else:  # WhatsApp: a reply button, or a template's quick reply
            entry.tapped = True
            context = {"from": self.config.business_number, "id": entry.id}
            message = (
                {"type": "button", "button": {"payload": button.payload, "text": button.title}}
                if entry.kind == "template"
                else {
                    "type": "interactive",
                    "interactive": {
                        "type": "button_reply",
                        "button_reply": {"id": button.payload, "title": button.title},
                    },
                }
            )
            value = whatsapp_sim.message_value(user, now, {"context": context, **message})
            mid = value["messages"][0]["id"]
            self._deliver(WHATSAPP, whatsapp_sim.envelope(self.world, self.config, value))
        self.world.add(
            Entry(id=mid, platform=platform, user=user.key, sender="user", at=now, text=button.title)
        )
        return None

    def linking_done(self, token: str, code: str | None) -> SimUser | None:
        """The browser came back to `redirect_uri`: with a code the account is linked."""
        made = self.world.linking_tokens.pop(token, None)
        if made is None:
            return None
        user = self.world.users[made[0]]
        if code:
            user.linked = True
            now = self.config.clock.now()
            self._event(
                user, now, messenger_sim.linking_item(user, self.config.page_id, now, code=code[:256])
            )
        return user

    def read(self, platform: str, user_key: str) -> int:
        """The person looks at the conversation: WhatsApp reports `read` for what was delivered."""
        if platform != WHATSAPP:
            return 0
        user = self.world.user(user_key)
        count = 0
        for entry in self.world.conversation(WHATSAPP, user.key):
            if entry.sender == "page" and entry.status == "delivered":
                entry.status = "read"
                self._status(entry, user, "read")
                count += 1
        return count

    def inject(
        self,
        platform: str,
        code: int,
        *,
        subcode: int | None = None,
        times: int = 1,
        status: int = 400,
        retry_after: int | None = None,
    ) -> None:
        """The next `times` sends to `platform` fail with this Graph error (tests)."""
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        self.world.faults[platform].extend(
            GraphFault(code, f"(#{code}) simulated", subcode=subcode, status=status, headers=headers)
            for _ in range(times)
        )

    def messages(self, platform: str, user_key: str, *, sender: str = "page") -> list[Entry]:
        return [
            e for e in self.world.conversation(platform, self.world.user(user_key).key) if e.sender == sender
        ]
