"""Helpers for the Messenger and WhatsApp tests (issue 15): signed webhook posts, the Graph API
simulator on its own loopback port with the platform configured "live" against it, linking a
simulated person through the real pages, and waiting for something to happen."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ledgerlink.adapters.channels.graph import hub_signature
from ledgerlink.adapters.channels.whatsapp import template_definitions
from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox.graph import GraphSim, GraphSimConfig, create_graph_app
from ledgerlink.sandbox.testing import bind_loopback, serve
from tests.conftest import Stack, running_stack

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"
PASSWORD = "correct horse"  # what tests.integration.test_linking_flow._linked registers with
_FIELD = re.compile(r'name="(csrf|account_linking_token|redirect_uri)" value="([^"]*)"')


def fixture(platform: str, name: str) -> Any:
    return json.loads((FIXTURES / platform / f"{name}.json").read_text())


def fixture_names(platform: str) -> list[str]:
    return sorted(p.stem for p in (FIXTURES / platform).glob("*.json"))


async def until(
    predicate: Callable[[], bool], step: Callable[[], Awaitable[None]], *, seconds: float = 20.0
) -> None:
    """Call `step` until `predicate()` holds (a bounded wait: the test fails, it never hangs)."""
    async with asyncio.timeout(seconds):
        while not predicate():
            await step()
            await asyncio.sleep(0.02)


async def post_signed(http: httpx.AsyncClient, platform: str, body: Any, secret: str) -> httpx.Response:
    raw = json.dumps(body, ensure_ascii=False).encode()
    return await http.post(
        f"/channels/{platform}/webhook",
        content=raw,
        headers={"content-type": "application/json", "x-hub-signature-256": hub_signature(secret, raw)},
    )


@dataclass
class SimStack:
    stack: Stack
    sim: GraphSim
    sim_url: str

    @property
    def container(self) -> Any:
        return self.stack.container

    async def step(self) -> None:
        await self.container.drain()
        await self.sim.drain()


@contextlib.asynccontextmanager
async def live_against_simulator(
    tmp_path: Path, db_url: str, *, clock: Clock | None = None, **settings: Any
) -> AsyncIterator[SimStack]:
    """The simulator served alone by uvicorn on 127.0.0.1 (stopped with its server handle), and
    the platform configured as if live, with the simulator's secrets and URL: the path an
    operator's settings take."""
    sim_sock, sim_url = bind_loopback()
    config = GraphSimConfig(
        public_url=sim_url,
        templates=template_definitions(),
        **({"clock": clock} if clock is not None else {}),
    )
    app = create_graph_app(config)
    live = {
        "messenger_app_secret": config.messenger_app_secret,
        "messenger_verify_token": config.messenger_verify_token,
        "messenger_page_token": config.messenger_page_token,
        "messenger_graph_url": f"{sim_url}/v21.0",
        "whatsapp_app_secret": config.whatsapp_app_secret,
        "whatsapp_verify_token": config.whatsapp_verify_token,
        "whatsapp_access_token": config.whatsapp_access_token,
        "whatsapp_graph_url": f"{sim_url}/v21.0",
        "whatsapp_phone_number_id": config.phone_number_id,
        "whatsapp_business_number": config.business_number,
        "graph_simulator": False,
    }
    async with (
        serve(app, sim_sock),
        running_stack(tmp_path, db_url, clock=clock, **{**live, **settings}) as stack,
    ):
        config.messenger_callback = f"{stack.platform_url}/channels/messenger/webhook"
        config.whatsapp_callback = f"{stack.platform_url}/channels/whatsapp/webhook"
        yield SimStack(stack=stack, sim=app.state.graph, sim_url=sim_url)


async def link_messenger(s: SimStack, user: str = "pat", *, handle: str = "pat") -> None:
    """The simulated person writes to the page, taps Log in, signs in on our page, and the
    browser goes back to the platform: all over HTTP."""
    sim = s.sim

    def linked() -> int:
        return sum("is now linked" in e.text for e in sim.messages("messenger", user))

    before = linked()
    sim.say("messenger", user, "hi")
    await until(
        lambda: (
            sim.messages("messenger", user)[-1:] != []
            and sim.messages("messenger", user)[-1].kind == "button"
        ),
        s.step,
    )
    prompt = sim.messages("messenger", user)[-1]
    url = sim.tap("messenger", user, prompt.id, 0)
    assert url is not None
    async with httpx.AsyncClient(timeout=10.0) as browser:
        page = await browser.get(url)
        assert page.status_code == 200, page.text
        fields = {k: v.replace("&amp;", "&") for k, v in _FIELD.findall(page.text)}
        resp = await browser.post(url.split("?")[0], data={**fields, "handle": handle, "password": PASSWORD})
        assert resp.status_code == 303, resp.text
        back = await browser.get(resp.headers["location"])
        assert back.status_code == 303
    await until(lambda: linked() > before, s.step)


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_OPTIN_CODE = re.compile(r'data-testid="optin-code">LINK (\d{6})<')


@contextlib.asynccontextmanager
async def signed_in(s: SimStack, handle: str = "pat") -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the platform as `handle` (over HTTP, the login form)."""
    async with s.stack.client() as http:
        page = await http.get("/login")
        resp = await http.post(
            "/login", data={"csrf": _CSRF.search(page.text)[1], "handle": handle, "password": PASSWORD}  # type: ignore[index]
        )
        assert resp.status_code == 303, resp.text
        yield http


async def optin_whatsapp(s: SimStack, user: str = "pat", *, handle: str = "pat") -> str:
    """The person asks for a code in settings and sends it from the simulated WhatsApp number;
    returns the simulated number."""
    sim = s.sim
    number = sim.world.user(user).wa_id
    async with signed_in(s, handle) as http:
        page = await http.get("/settings/channels")
        resp = await http.post(
            "/settings/channels/whatsapp",
            data={"csrf": _CSRF.search(page.text)[1], "number": f"+{number}"},  # type: ignore[index]
        )
        assert resp.status_code == 200, resp.text
        match = _OPTIN_CODE.search(resp.text)
        assert match is not None, resp.text
    before = sum("is now linked" in e.text for e in sim.messages("whatsapp", user))
    sim.say("whatsapp", user, f"LINK {match[1]}")
    await until(
        lambda: sum("is now linked" in e.text for e in sim.messages("whatsapp", user)) > before, s.step
    )
    return number
