"""Issue 14, defect 4: sign-in, sign-up and the composer are throttled (429 with Retry-After),
a failed sign-in does not tell whether the handle exists, and weak passwords are refused with
words that say why."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import Depends, FastAPI
from tests.conftest import Stack

from ledgerlink.entrypoints import problems
from ledgerlink.entrypoints.throttling import rate_limited
from ledgerlink.services.kernel.ports import RateRule

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=stack.app),
                                 base_url=stack.platform_url) as c:
        yield c


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    match = _CSRF.search((await client.get(path)).text)
    assert match is not None
    return match.group(1)


async def sign_up(client: httpx.AsyncClient, handle: str, password: str = PASSWORD) -> httpx.Response:
    token = await csrf(client, "/register")
    return await client.post("/register", data={"csrf": token, "handle": handle, "display_name": "",
                                                "password": password, "password_confirm": password})


async def log_in(client: httpx.AsyncClient, handle: str, password: str) -> httpx.Response:
    token = await csrf(client, "/login")
    return await client.post("/login", data={"csrf": token, "handle": handle, "password": password})


def _error(page: httpx.Response) -> str:
    found = re.search(r'data-testid="form-error">([^<]*)<', page.text)
    assert found is not None, page.text
    return found.group(1)


async def test_sixty_wrong_passwords_are_throttled_and_then_the_right_one_waits_too(
        stack: Stack, client: httpx.AsyncClient) -> None:
    assert (await sign_up(client, "pat")).status_code == 303
    client.cookies.clear()
    answers = [await log_in(client, "pat", f"wrong guess number {i}") for i in range(60)]
    statuses = [a.status_code for a in answers]
    assert 429 in statuses, statuses
    first = statuses.index(429)
    assert first <= 10 and set(statuses[:first]) == {401} and set(statuses[first:]) == {429}
    throttled = answers[-1]
    assert int(throttled.headers["retry-after"]) > 0
    assert "Too many sign-in attempts" in _error(throttled)
    assert throttled.headers["content-type"].startswith("text/html")
    right = await log_in(client, "pat", PASSWORD)
    assert right.status_code == 429  # the right password waits like any other
    assert (await client.get("/")).headers["location"] == "/login"  # not signed in


async def test_an_unknown_handle_fails_exactly_like_a_wrong_password(
        stack: Stack, client: httpx.AsyncClient) -> None:
    """Same status, same words, one password verification each, and throttled alike."""
    assert (await sign_up(client, "pat")).status_code == 303
    client.cookies.clear()
    verified: list[str] = []
    hasher = stack.deps.hasher

    class Counting:
        def hash(self, password: str) -> str:
            return hasher.hash(password)

        def verify(self, hashed: str, password: str) -> bool:
            verified.append(hashed)
            return hasher.verify(hashed, password)

    stack.deps.hasher = Counting()
    known = await log_in(client, "pat", "not the password at all")
    assert len(verified) == 1
    unknown = await log_in(client, "nobody-here", "not the password at all")
    assert len(verified) == 2
    assert (known.status_code, _error(known)) == (unknown.status_code, _error(unknown)) == (
        401, "That handle and password do not match an account.")
    # the hash checked for an unknown handle has the real hasher's costs, not a cheap one
    assert verified[1].split("$")[3] == verified[0].split("$")[3]
    for handle in ("pat", "nobody-here"):
        for _ in range(12):
            last = await log_in(client, handle, "still not the password")
        assert last.status_code == 429 and "Too many sign-in attempts" in _error(last)


async def test_sign_in_failures_are_throttled_per_address_across_handles(
        client: httpx.AsyncClient) -> None:
    statuses = [(await log_in(client, f"someone{i}", "a guessed password")).status_code
                for i in range(40)]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses


async def test_registration_is_throttled_per_address(client: httpx.AsyncClient) -> None:
    statuses = []
    for i in range(25):
        client.cookies.clear()
        statuses.append((await sign_up(client, f"new{i}")).status_code)
    assert statuses[0] == 303 and statuses[-1] == 429, statuses
    client.cookies.clear()
    last = await sign_up(client, "one-more")
    assert last.status_code == 429 and int(last.headers["retry-after"]) > 0
    assert "Too many new accounts" in last.text


@pytest.mark.parametrize(("password", "words"), [
    ("password", "at least 12 characters"),
    (" " * 8, "at least 12 characters"),
    ("password1234", "common"),
    ("robin hood of the sherwood forest", "your handle"),
    ("x" * 129, "at most 128 characters"),
])
async def test_weak_passwords_are_refused_with_a_clear_reason(
        client: httpx.AsyncClient, password: str, words: str) -> None:
    resp = await sign_up(client, "sherwood", password)
    assert resp.status_code == 422
    error = re.search(r'data-testid="error-password">([^<]*)<', resp.text)
    assert error is not None and words in error.group(1), resp.text
    assert (await client.get("/")).headers["location"] == "/login"  # no account, not signed in


async def test_a_long_unicode_passphrase_with_spaces_is_welcome(client: httpx.AsyncClient) -> None:
    passphrase = "Ünïcödé pässwörd with spaces ✓"
    assert (await sign_up(client, "uni", passphrase)).status_code == 303
    client.cookies.clear()
    assert (await log_in(client, "uni", passphrase)).status_code == 303
    client.cookies.clear()
    # the same passphrase typed with composed/decomposed accents is the same after NFKC
    assert (await log_in(client, "uni", unicodedata.normalize("NFD", passphrase))).status_code == 303


async def test_the_composer_is_throttled_per_person(stack: Stack, client: httpx.AsyncClient) -> None:
    assert (await sign_up(client, "pat")).status_code == 303
    home = await client.get("/")
    thread = re.search(r'/threads/(thr_[A-Za-z0-9_-]+)', home.text)
    assert thread is not None
    token = _CSRF.search(home.text).group(1)  # type: ignore[union-attr]
    path = f"/threads/{thread.group(1)}/messages"
    statuses = []
    for i in range(40):
        resp = await client.post(path, data={"csrf": token, "text": f"hello {i}"},
                                 headers={"accept": "application/json"})
        statuses.append(resp.status_code)
    assert statuses[0] == 204 and statuses[-1] == 429, statuses
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "too_many_requests" and int(resp.headers["retry-after"]) > 0
    plain = await client.post(path, data={"csrf": token, "text": "without javascript"})
    assert plain.status_code == 429 and plain.headers["content-type"].startswith("text/html")
    assert int(plain.headers["retry-after"]) > 0 and "Too many messages" in plain.text


async def test_the_partner_throttle_dependency_answers_a_problem_with_retry_after(stack: Stack) -> None:
    """`entrypoints.throttling.rate_limited`, offered to the partner routes: the same store."""
    app = FastAPI()
    app.state.deps = stack.deps
    problems.install(app)
    rule = RateRule("test_partner", ((2, 60),))

    @app.get("/p", dependencies=[Depends(rate_limited(rule, key=lambda r: "partner-1"))])
    async def partner_route() -> dict[str, str]:
        return {"ok": "yes"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        statuses = [(await c.get("/p")).status_code for _ in range(2)]
        refused = await c.get("/p")
    assert statuses == [200, 200] and refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "too_many_requests" and int(refused.headers["retry-after"]) > 0
