"""Consents on the Settings page and the renewal page, in words (issue 13): the bank and its
accounts, what is shared and why in plain words, days in the person's locale and IANA zone;
scope codes, purpose codes, ids and ISO timestamps only under "technical details"."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked

from ledgerlink.domain.privacy import PURPOSE_DESCRIPTIONS, Purpose
from ledgerlink.services.alerts import digests
from ledgerlink.services.privacy import rights

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}")
_WORDS = {
    "balances": "Your balances, current and available",
    "transactions": "Your transactions, pending and posted: date, merchant and amount",
    "alerts": "Alerts from your bank, such as large purchases and security notices",
}


class _Visible(HTMLParser):
    """The text a person sees with every <details> closed (no head, scripts or styles)."""

    _HIDDEN = {"details", "script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []
        self.summary = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.depth += 1
        self.summary = self.summary or tag == "summary"

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.depth -= 1
        if tag == "summary":
            self.summary = False

    def handle_data(self, data: str) -> None:
        if self.depth == 0 or (self.summary and self.depth == 1):
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def _items(html: str, testid: str) -> list[str]:
    block = re.search(rf'data-testid="{testid}">(.*?)</ul>', html, re.S)
    assert block is not None, testid
    items = re.findall(r"<li>(.*?)</li>", block.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", li).split()) for li in items]


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url) as s:
        yield s


@asynccontextmanager
async def _signed_in(stack: Stack, *, language: str = "en-US") -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app), base_url=stack.platform_url,
                                 headers={"Accept-Language": language}) as http:
        page = await http.get("/login")
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        resp = await http.post("/login", data={"csrf": token, "handle": "pat", "password": "correct horse"})
        assert resp.status_code == 303, resp.text
        yield http


async def _zone_off_utc(stack: Stack, grant: object) -> tuple[ZoneInfo, str]:
    """A zone in which the link was made on another calendar day than in UTC, kept on the person."""
    [consent] = await rights.consents(stack.deps, grant)  # type: ignore[arg-type]
    name = "Pacific/Kiritimati" if consent.created_at.hour >= 10 else "Pacific/Pago_Pago"  # UTC+14 / -11
    await digests.set_zone(stack.deps, grant, name)  # type: ignore[arg-type]
    return ZoneInfo(name), consent.link_id


async def test_the_settings_page_words_each_consent_with_its_bank_and_days_in_the_persons_zone(
        stack: Stack) -> None:
    grant, _ = await _linked(stack)
    zone, link_id = await _zone_off_utc(stack, grant)
    [consent] = await rights.consents(stack.deps, grant)
    assert consent.expires_at is not None
    async with _signed_in(stack) as http:
        page = await http.get("/settings")
    assert page.status_code == 200
    shown = visible_text(page.text)
    linked_local = consent.created_at.astimezone(zone).date()
    assert linked_local != consent.created_at.date()
    assert f"Linked {linked_local:%b} {linked_local.day}, {linked_local.year}" in shown
    until = consent.expires_at.astimezone(zone).date()
    assert f"Valid until {until:%b} {until.day}, {until.year}" in shown
    assert "Active" in shown
    accounts = _items(page.text, "consent-accounts")
    assert accounts and all(a.startswith("Sandbox Bank ") and "••" in a for a in accounts)
    assert _items(page.text, "consent-shared") == [_WORDS[s] for s in consent.scopes]
    assert not _ISO.search(shown), _ISO.search(shown)
    assert link_id not in shown and ", ".join(consent.scopes) not in shown  # the old raw "Shares" line
    # The codes are still there for whoever opens the technical details.
    tech = re.search(r'data-testid="consent-technical">(.*?)</details>', page.text, re.S)
    assert tech is not None and link_id in tech.group(1) and ", ".join(consent.scopes) in tech.group(1)


async def test_dates_follow_the_browsers_locale(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    zone, _ = await _zone_off_utc(stack, grant)
    [consent] = await rights.consents(stack.deps, grant)
    async with _signed_in(stack, language="de-DE,de;q=0.9") as http:
        shown = visible_text((await http.get("/settings")).text)
    linked = consent.created_at.astimezone(zone).date()
    assert f"{linked:%d.%m.%Y}" in shown  # Babel's medium German date: 03.11.2026


async def test_the_renew_page_shows_bank_accounts_data_purposes_never_used_for_and_both_expiries(
        stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    zone, link_id = await _zone_off_utc(stack, grant)
    [consent] = await rights.consents(stack.deps, grant)
    assert consent.expires_at is not None
    async with _signed_in(stack) as http:
        page = await http.get(f"/links/{link_id}/renew")
    assert page.status_code == 200
    shown = visible_text(page.text)
    assert "Renew your consent" in shown and "Continue to Sandbox Bank" in shown
    accounts = _items(page.text, "renew-accounts")
    assert accounts == [f"Sandbox Bank {a}" for a in consent.accounts]
    assert _items(page.text, "renew-shared") == [_WORDS[s] for s in consent.scopes]
    assert _items(page.text, "renew-purposes") == list(PURPOSE_DESCRIPTIONS.values())
    never = ["Advertising", "Profiling or scoring you", "Selling your data"]
    assert _items(page.text, "renew-never") == never
    now_until = consent.expires_at.astimezone(zone).date()
    assert f"Now {now_until:%b} {now_until.day}, {now_until.year}" in shown
    days = stack.deps.link_duration_days
    new_until = (stack.deps.clock.now() + timedelta(days=days)).astimezone(zone).date()
    new_words = f"{new_until:%b} {new_until.day}, {new_until.year}"
    assert f"After renewing {new_words} ({days} days from today)" in shown
    assert not _ISO.search(shown) and link_id not in shown
    assert not any(p.value in shown for p in Purpose)
    assert f'href="/threads/{thread_id}"' in page.text


async def test_an_ended_consent_renews_from_no_longer_valid(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    [consent] = await rights.consents(stack.deps, grant)
    async with _signed_in(stack) as http:
        token = _CSRF.search((await http.get("/settings")).text).group(1)  # type: ignore[union-attr]
        revoked = await http.post(f"/settings/links/{consent.link_id}/revoke", data={"csrf": token})
        assert revoked.status_code == 303
        settings = visible_text((await http.get("/settings")).text)
        page = await http.get(f"/links/{consent.link_id}/renew")
    assert "Revoked" in settings and "Ended " in settings and "Valid until" not in settings
    assert page.status_code == 200
    assert "Now No longer valid (ended " in visible_text(page.text)


async def test_an_unknown_preview_level_is_named_next_to_the_choices_and_changes_nothing(
        stack: Stack) -> None:
    grant, _ = await _linked(stack)
    async with _signed_in(stack) as http:
        token = _CSRF.search((await http.get("/settings")).text).group(1)  # type: ignore[union-attr]
        bad = await http.post("/settings/disclosure", data={"csrf": token, "level": "loud"})
    assert bad.status_code == 422
    assert 'data-testid="error-level"' in bad.text and "Choose one of the four preview levels" in bad.text
    async with stack.deps.uow(readonly=True) as uow:
        person = await uow.persons.get(grant.person_id)
    assert person is not None and person.disclosure == "full"
