"""Issue 14, second factor (ADR 0021): an authenticator app (TOTP) and recovery codes, through
the real pages of the running app on a real database.

Enrolment needs a current code; sign-in becomes two steps and nothing works between them; a code
is accepted once; wrong codes are throttled; recovery codes are single use and can be remade;
re-authentication before export, erasure, a new channel or a new factor is the second factor;
removing the last factor turns it off. Passkeys: test_passkeys.py and tests/e2e.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import inspect
from tests.conftest import Stack, running_stack
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ledgerlink.adapters.db import schema
from ledgerlink.adapters.db.engine import create_null_pool_engine
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.entrypoints.web.hub import CLOSE_UNAUTHORIZED

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_SECRET = re.compile(r'data-testid="totp-secret">([^<]+)<')
_CODES = re.compile(r"<li><code>([0-9a-z-]{14})</code></li>")
_ERROR = re.compile(r'class="form-error"[^>]*>([^<]+)<')
STEP = "/login/second-step"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 26, 9, 0, 7, tzinfo=UTC))


@pytest.fixture
async def stack(tmp_path: Path, db_url: str, clock: FrozenClock) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s


@asynccontextmanager
async def browser(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app),
                                 base_url=stack.platform_url) as client:
        yield client


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    match = _CSRF.search((await client.get(path)).text)
    assert match is not None, path
    return match.group(1)


def error_of(resp: httpx.Response) -> str:
    match = _ERROR.search(resp.text)
    assert match is not None, resp.text[:2000]
    return match.group(1)


async def sign_up(client: httpx.AsyncClient, handle: str = "pat") -> None:
    token = await csrf(client, "/register")
    resp = await client.post("/register", data={"csrf": token, "handle": handle, "display_name": "",
                                                "password": PASSWORD, "password_confirm": PASSWORD})
    assert resp.status_code == 303 and resp.headers["location"] == "/protect"


@dataclass
class App:
    """The person's authenticator app: the key it was given, and the platform's clock."""

    secret: str
    clock: FrozenClock

    def code(self, steps: int = 0) -> str:
        return pyotp.TOTP(self.secret).at(self.clock.now(), counter_offset=steps)


async def enrol_totp(client: httpx.AsyncClient, clock: FrozenClock) -> tuple[App, list[str]]:
    page = await client.get("/settings/security/totp")
    assert page.status_code == 200, page.text
    match = _SECRET.search(page.text)
    assert match is not None
    app = App(match.group(1).replace(" ", ""), clock)
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    done = await client.post("/settings/security/totp", data={"csrf": token, "code": app.code()})
    assert done.status_code == 200 and 'data-testid="recovery-codes"' in done.text
    codes = _CODES.findall(done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return app, codes


async def password_step(client: httpx.AsyncClient, handle: str = "pat") -> httpx.Response:
    token = await csrf(client, "/login")
    return await client.post("/login", data={"csrf": token, "handle": handle, "password": PASSWORD})


async def second_step(client: httpx.AsyncClient, code: str = "", passkey: str = "") -> httpx.Response:
    token = await csrf(client, STEP)
    return await client.post(STEP, data={"csrf": token, "factor_code": code, "factor_passkey": passkey})


async def sign_out(client: httpx.AsyncClient) -> None:
    await client.post("/logout", data={"csrf": await csrf(client, "/settings")})


async def signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get("/settings")).status_code == 200


async def _live_feed_refused(url: str, cookie: str, origin: str) -> bool:
    """The WebSocket is refused (before or right after the handshake) as signed out."""
    try:
        headers = {"Cookie": cookie, "Origin": origin}
        async with connect(url, additional_headers=headers, open_timeout=30) as ws:
            await ws.send('{"type":"resume","threads":{}}')
            await asyncio.wait_for(ws.recv(), 5)
    except InvalidStatus:
        return True
    except ConnectionClosed as closed:
        return closed.rcvd is not None and closed.rcvd.code == CLOSE_UNAUTHORIZED
    return False


# --------------------------------------------------------------------------- enrolment and sign-in


async def test_an_authenticator_app_is_on_only_after_a_current_code_from_it(
        stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        assert 'data-testid="protect-skip"' in (await pat.get("/protect")).text
        page = await pat.get("/settings/security/totp")
        app = App(_SECRET.search(page.text).group(1).replace(" ", ""), clock)  # type: ignore[union-attr]
        assert "<svg" in page.text and 'class="qr"' in page.text  # inline, nothing fetched
        assert app.secret[:4] in (await pat.get("/settings/security/totp")).text  # same key on reload
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        wrong = await pat.post("/settings/security/totp", data={"csrf": token, "code": app.code(steps=3)})
        assert wrong.status_code == 401 and "not right" in error_of(wrong)
        await sign_out(pat)
        assert (await password_step(pat)).headers["location"] == "/"  # still the password alone
        await enrol_totp(pat, clock)
        await sign_out(pat)
        step = await password_step(pat)
        assert step.status_code == 303 and step.headers["location"] == STEP
        assert not await signed_in(pat)
        clock.advance(timedelta(seconds=30))  # the set-up's code was this step's: the next one
        done = await second_step(pat, app.code())
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert await signed_in(pat)


async def test_a_code_is_accepted_once_and_one_step_either_side(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        replay = await second_step(pat, app.code())  # the set-up's own code
        assert replay.status_code == 401 and "used already" in error_of(replay)
        clock.advance(timedelta(minutes=3))
        too_old = await second_step(pat, app.code(steps=-2))
        assert too_old.status_code == 401 and "not right" in error_of(too_old)
        late = await second_step(pat, app.code(steps=-1))  # a clock 30 s behind still works
        assert late.status_code == 303
        await sign_out(pat)
        await password_step(pat)
        again = await second_step(pat, app.code(steps=-1))
        assert again.status_code == 401 and "used already" in error_of(again)
        older = await second_step(pat, app.code(steps=-2))  # before the last accepted step: never
        assert older.status_code == 401
        ahead = await second_step(pat, app.code(steps=1))  # a clock 30 s ahead too
        assert ahead.status_code == 303


async def test_wrong_codes_are_throttled_and_logged_for_the_person(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        clock.advance(timedelta(seconds=60))
        statuses = [(await second_step(pat, f"{n:06d}")).status_code for n in range(10)]
        assert statuses == [401] * 10
        throttled = await second_step(pat, app.code())  # even the right code now waits
        assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
        assert "Too many wrong codes" in throttled.text
        assert not await signed_in(pat)
        await stack.deps.limiter.reset()
        assert (await second_step(pat, app.code())).status_code == 303
        security = (await pat.get("/settings/security")).text
        assert security.count("Sign-in stopped at the second step") == 10
        assert 'data-testid="failed-step-advice"' in security


async def test_no_data_route_works_between_the_steps_and_the_half_state_expires(
        stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        for path in ("/", "/settings", "/settings/security", "/settings/export.json", "/settings/export.csv",
                     "/settings/channels", "/privacy/accesses", "/settings/alerts", "/link", "/protect"):
            resp = await pat.get(path)
            assert resp.status_code in (303, 307, 401) and "/login" in resp.headers.get("location", ""), path
        assert (await pat.get("/login")).headers["location"] == STEP  # the sign-in goes on where it was
        cookie = f"ll_session={pat.cookies['ll_session']}"
        url = stack.platform_url.replace("http://", "ws://") + "/ws"
        assert await _live_feed_refused(url, cookie, stack.platform_url)
        clock.advance(timedelta(minutes=5, seconds=1))
        expired = await pat.get(STEP)
        assert expired.status_code == 401 and "expired" in expired.text
        token = await csrf(pat, "/login")
        late = await pat.post(STEP, data={"csrf": token, "factor_code": app.code()})
        assert late.status_code == 401 and "expired" in late.text
        assert not await signed_in(pat)


async def test_cancelling_the_second_step_ends_it(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        token = await csrf(pat, STEP)
        assert (await pat.post(STEP + "/cancel", data={"csrf": token})).headers["location"] == "/login"
        clock.advance(timedelta(seconds=30))
        resp = await pat.post(STEP, data={"csrf": token, "factor_code": app.code()})
        assert resp.status_code == 401 and not await signed_in(pat)


# --------------------------------------------------------------------------- recovery codes


async def test_recovery_codes_are_single_use_and_say_how_many_are_left(
        stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        _, codes = await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        used = await second_step(pat, codes[3].upper().replace("-", " "))  # as people type them
        assert used.status_code == 303
        assert used.headers["location"] == "/settings/security?notice=recovery_used"
        page = (await pat.get(used.headers["location"])).text
        assert 'data-testid="recovery-used"' in page and "<strong>9</strong> left" in page
        assert "A recovery code was used (9 left)" in page
        await sign_out(pat)
        await password_step(pat)
        again = await second_step(pat, codes[3])
        assert again.status_code == 401 and "used already" in error_of(again)
        assert (await second_step(pat, codes[4])).status_code == 303


async def test_new_recovery_codes_replace_the_old_ones(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        _, old = await enrol_totp(pat, clock)
        token = await csrf(pat, "/settings/security")
        made = await pat.post("/settings/security/recovery-codes", data={"csrf": token})
        new = _CODES.findall(made.text)
        assert made.status_code == 200 and len(new) == 10 and not set(new) & set(old)
        await sign_out(pat)
        await password_step(pat)
        assert (await second_step(pat, old[0])).status_code == 401
        assert (await second_step(pat, new[0])).status_code == 303
        assert "<strong>9</strong> of 10 left" in (await pat.get("/settings/security")).text


# --------------------------------------------------------------------------- re-authentication


async def test_export_asks_for_the_second_factor_not_the_password(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, codes = await enrol_totp(pat, clock)
        assert (await pat.get("/settings/export.json")).status_code == 200  # set-up proved it
        clock.advance(timedelta(minutes=6))
        assert (await pat.get("/settings/export.json")).status_code == 303
        confirm = await pat.get("/confirm?next=/settings/export.json")
        assert 'name="factor_code"' in confirm.text and 'name="password"' not in confirm.text
        token = _CSRF.search(confirm.text).group(1)  # type: ignore[union-attr]
        password_only = await pat.post("/confirm", data={"csrf": token, "password": PASSWORD,
                                                         "next": "/settings/export.json"})
        assert password_only.status_code == 401 and "passkey or a code" in error_of(password_only)
        assert (await pat.get("/settings/export.json")).status_code == 303
        wrong = await pat.post("/confirm", data={"csrf": token, "factor_code": "123456", "next": "/settings"})
        assert wrong.status_code == 401
        ok = await pat.post("/confirm", data={"csrf": token, "factor_code": app.code(),
                                              "next": "/settings/export.json"})
        assert ok.status_code == 303 and ok.headers["location"] == "/settings/export.json"
        assert (await pat.get("/settings/export.json")).json()["person"]["handle"] == "pat"
        clock.advance(timedelta(minutes=6))  # a recovery code is allowed too
        token = await csrf(pat, "/settings")
        assert (await pat.post("/confirm", data={"csrf": token, "factor_code": codes[0],
                                                 "next": "/settings"})).status_code == 303
        assert 'data-testid="export-json"' in (await pat.get("/settings")).text


async def test_a_new_channel_asks_for_the_second_factor(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        clock.advance(timedelta(minutes=6))
        page = await pat.get("/settings/channels")
        assert 'name="factor_code"' in page.text and 'name="confirm_password"' not in page.text
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        url = "https://hooks.example.com/ledgerlink"
        refused = await pat.post("/settings/channels/webhook",
                                 data={"csrf": token, "url": url, "confirm_password": PASSWORD})
        assert refused.status_code == 401 and "whsec_" not in refused.text
        added = await pat.post("/settings/channels/webhook",
                               data={"csrf": token, "url": url, "factor_code": app.code()})
        assert added.status_code == 200 and "whsec_" in added.text


async def test_erasure_asks_for_the_password_and_the_second_factor(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        page = await pat.get("/settings/erase")
        assert 'name="factor_code"' in page.text and 'name="password"' in page.text
        token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        base = {"csrf": token, "handle": "pat"}
        password_only = await pat.post("/settings/erase", data={**base, "password": PASSWORD})
        assert password_only.status_code == 401 and "Nothing was erased" in password_only.text
        code_only = await pat.post("/settings/erase", data={**base, "factor_code": app.code(1)})
        assert code_only.status_code == 401 and "Nothing was erased" in code_only.text
        assert await signed_in(pat)
        done = await pat.post("/settings/erase",
                              data={**base, "password": PASSWORD, "factor_code": app.code(1)})
        assert done.status_code == 200 and "goodbye" in done.text.lower()
        assert not await signed_in(pat)


async def test_adding_a_factor_asks_for_the_factor_already_there(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        clock.advance(timedelta(minutes=6))
        security = await pat.get("/settings/security")
        assert 'data-testid="confirm-first"' in security.text
        assert 'data-testid="add-passkey"' not in security.text
        token = await csrf(pat, "/settings")
        options = await pat.post("/settings/security/passkeys/options", data={"csrf": token})
        assert options.status_code == 403 and options.json()["code"] == "confirm_required"
        assert options.json()["confirm"] == "/confirm?next=%2Fsettings%2Fsecurity"
        remove = await pat.post("/settings/security/totp/remove", data={"csrf": token})
        assert remove.status_code == 303 and remove.headers["location"].startswith("/confirm")
        codes = await pat.post("/settings/security/recovery-codes", data={"csrf": token})
        assert codes.status_code == 303 and codes.headers["location"].startswith("/confirm")
        await pat.post("/confirm", data={"csrf": token, "password": PASSWORD, "next": "/settings/security"})
        password_only = await pat.post("/settings/security/passkeys/options", data={"csrf": token})
        assert password_only.status_code == 403
        await pat.post("/confirm", data={"csrf": token, "factor_code": app.code(),
                                         "next": "/settings/security"})
        options = await pat.post("/settings/security/passkeys/options", data={"csrf": token})
        assert options.status_code == 200 and options.json()["challenge"]


async def test_without_a_second_factor_the_password_still_confirms(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        clock.advance(timedelta(minutes=6))
        assert (await pat.get("/settings/security/totp")).headers["location"].startswith("/confirm")
        token = await csrf(pat, "/confirm?next=/settings/security/totp")
        ok = await pat.post("/confirm", data={"csrf": token, "password": PASSWORD,
                                              "next": "/settings/security/totp"})
        assert ok.headers["location"] == "/settings/security/totp"
        assert (await pat.get("/settings/security/totp")).status_code == 200


# --------------------------------------------------------------------------- removing, refusing


async def test_removing_the_last_factor_turns_the_second_step_off(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        _, codes = await enrol_totp(pat, clock)
        token = await csrf(pat, "/settings/security")
        removed = await pat.post("/settings/security/totp/remove", data={"csrf": token})
        assert removed.headers["location"] == "/settings/security?notice=off"
        page = (await pat.get(removed.headers["location"])).text
        assert "only your password" in page and "Second factor turned off" in page
        assert 'data-testid="recovery-left"' not in page
        async with stack.deps.uow(readonly=True) as uow:
            person = await uow.persons.by_handle("pat")
            assert person is not None and await uow.factors.recovery_codes_left(person.id) == 0
        await sign_out(pat)
        assert (await password_step(pat)).headers["location"] == "/"
        again = await pat.post("/settings/security/totp/remove", data={"csrf": await csrf(pat, "/settings")})
        assert again.status_code == 404
        assert codes  # the old codes are gone with it: nothing left to sign in with


@pytest.mark.parametrize("typed", ["12345", "1234567", "abc", "💥", "١٢٣٤٥٦", "x" * 10_000,
                                   "0000-0000-000", "<script>alert(1)</script>"])
async def test_codes_that_cannot_be_codes_get_clear_words(stack: Stack, clock: FrozenClock,
                                                          typed: str) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        resp = await second_step(pat, typed)
        assert resp.status_code == 401, resp.text[:500]
        words = error_of(resp)
        assert "6 digits" in words or "recovery code" in words
        assert "<script>alert" not in resp.text


@pytest.mark.parametrize("raw", [b"%ED%A0%80", b"%FF%FE", b"%00" * 6])  # a lone surrogate, not UTF-8, NULs
async def test_bytes_that_are_no_text_get_clear_words(stack: Stack, clock: FrozenClock, raw: bytes) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        token = await csrf(pat, STEP)
        resp = await pat.post(STEP, content=b"csrf=" + token.encode() + b"&factor_code=" + raw,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert resp.status_code == 401 and error_of(resp)


@pytest.mark.parametrize("answer", ["{}", "[]", "null", "not json", '{"id": "x", "rawId": "x"}',
                                    '{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"!!",'
                                    '"authenticatorData":"AA","signature":"AA"}}', "{" * 5000, "x" * 70_000])
async def test_a_forged_passkey_answer_is_refused_without_a_500(
        stack: Stack, clock: FrozenClock, answer: str) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        await enrol_totp(pat, clock)
        await sign_out(pat)
        await password_step(pat)
        resp = await second_step(pat, passkey=answer)
        assert resp.status_code == 401
        assert error_of(resp)


async def test_the_app_key_and_the_recovery_codes_are_not_readable_at_rest(
        stack: Stack, clock: FrozenClock, tmp_path: Path) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, codes = await enrol_totp(pat, clock)
    if not stack.container.settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite files")
    blob = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert app.secret.encode() not in blob and app.secret.lower().encode() not in blob
    for code in codes:
        assert code.replace("-", "").encode() not in blob and code[5:].replace("-", "").encode() not in blob


async def test_the_migration_makes_the_tables_the_code_uses(stack: Stack) -> None:
    engine = create_null_pool_engine(stack.container.settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda sync: {
                name: {c["name"] for c in inspect(sync).get_columns(name)}
                for name in ("totp_factors", "passkeys", "recovery_codes", "pending_sign_ins",
                             "webauthn_challenges", "security_events", "sessions")})
    finally:
        await engine.dispose()
    for name, found in columns.items():
        assert found == set(schema.metadata.tables[name].c.keys()), name


async def test_erasure_removes_every_second_factor_row(stack: Stack, clock: FrozenClock) -> None:
    async with browser(stack) as pat:
        await sign_up(pat)
        app, _ = await enrol_totp(pat, clock)
        async with stack.deps.uow(readonly=True) as uow:
            person = await uow.persons.by_handle("pat")
        assert person is not None
        token = await csrf(pat, "/settings/erase")
        done = await pat.post("/settings/erase", data={"csrf": token, "handle": "pat", "password": PASSWORD,
                                                       "factor_code": app.code(1)})
        assert done.status_code == 200
    async with stack.deps.uow(readonly=True) as uow:
        assert await uow.factors.totp(person.id) is None
        assert await uow.factors.events(person.id, limit=10) == []
