"""Passkeys through the real pages, with a software authenticator (real keys and signatures,
checked by py_webauthn): registration and sign-in, each challenge answered once and only by the
session it was made for, the expected origin and RP ID, the signature counter, several passkeys
with names, removal. Chromium's own authenticator: tests/e2e/test_passkeys_e2e.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Stack, running_stack
from tests.integration.soft_authenticator import SoftAuthenticator, b64u
from tests.integration.test_second_factor import (
    _CODES,
    STEP,
    browser,
    csrf,
    error_of,
    password_step,
    second_step,
    sign_out,
    sign_up,
    signed_in,
)

from ledgerlink.domain.clock import FrozenClock
from ledgerlink.services.auth.verification import relying_party

REMOVE = "/settings/security/passkeys/remove"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))


@pytest.fixture
async def stack(tmp_path: Path, db_url: str, clock: FrozenClock) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s


def device(stack: Stack) -> SoftAuthenticator:
    rp = relying_party(stack.platform_url)
    return SoftAuthenticator(origin=rp.origin, rp_id=rp.id)


async def options(client: httpx.AsyncClient, url: str, token: str) -> dict[str, Any]:
    resp = await client.post(url, data={"csrf": token})
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


async def add_passkey(client: httpx.AsyncClient, key: SoftAuthenticator, name: str = "Laptop",
                      back: str = "/settings/security") -> httpx.Response:
    token = await csrf(client, "/settings")
    made = key.create(await options(client, "/settings/security/passkeys/options", token))
    return await client.post("/settings/security/passkeys",
                             data={"csrf": token, "credential": made, "name": name, "back": back})


async def passkey_answer(client: httpx.AsyncClient, key: SoftAuthenticator, **kwargs: Any) -> str:
    token = await csrf(client, STEP)
    return key.get(await options(client, STEP + "/passkey-options", token), **kwargs)


async def test_a_passkey_is_registered_then_signs_in_as_the_second_step(stack: Stack) -> None:
    key = device(stack)
    async with browser(stack) as pat:
        await sign_up(pat)
        added = await add_passkey(pat, key, back="/protect")
        assert added.status_code == 200 and len(_CODES.findall(added.text)) == 10  # the first factor
        page = (await pat.get("/settings/security")).text
        assert "Laptop" in page and "Passkey added" in page
        await sign_out(pat)
        assert (await password_step(pat)).headers["location"] == STEP
        step = await pat.get(STEP)
        assert 'data-testid="use-passkey"' in step.text and 'name="factor_code"' in step.text  # recovery
        token = await csrf(pat, STEP)
        asked = await options(pat, STEP + "/passkey-options", token)
        assert [c["id"] for c in asked["allowCredentials"]] == [b64u(key.credential_id)]
        assert asked["rpId"] == relying_party(stack.platform_url).id
        done = await second_step(pat, passkey=key.get(asked))
        assert done.status_code == 303 and done.headers["location"] == "/"
        assert "last used" in (await pat.get("/settings/security")).text


async def test_each_challenge_is_answered_once(stack: Stack) -> None:
    key = device(stack)
    async with browser(stack) as pat:
        await sign_up(pat)
        await add_passkey(pat, key)
        await sign_out(pat)
        await password_step(pat)
        answer = await passkey_answer(pat, key)
        assert (await second_step(pat, passkey=answer)).status_code == 303
        await sign_out(pat)
        await password_step(pat)
        replay = await second_step(pat, passkey=answer)  # the same answer, a new sign-in
        assert replay.status_code == 401 and "expired" in error_of(replay)
        await passkey_answer(pat, key)  # a new challenge is out; the old answer is for the old one
        stale = await second_step(pat, passkey=answer)
        assert stale.status_code == 401
        assert not await signed_in(pat)


async def test_a_challenge_belongs_to_the_sign_in_that_asked_for_it(stack: Stack) -> None:
    key = device(stack)
    async with browser(stack) as pat, browser(stack) as thief:
        await sign_up(pat)
        await add_passkey(pat, key)
        await sign_out(pat)
        await password_step(pat)
        answer = await passkey_answer(pat, key)
        await password_step(thief)  # the thief knows the password, and has caught the answer
        stolen = await second_step(thief, passkey=answer)
        assert stolen.status_code == 401 and not await signed_in(thief)
        assert (await second_step(pat, passkey=answer)).status_code == 303  # still good for its own


async def test_an_answer_for_another_origin_or_a_counter_that_goes_back_is_refused(stack: Stack) -> None:
    key = device(stack)
    async with browser(stack) as pat:
        await sign_up(pat)
        await add_passkey(pat, key)
        await sign_out(pat)
        await password_step(pat)
        phished = await second_step(pat, passkey=await passkey_answer(pat, key, origin="https://ledger1ink.example"))
        assert phished.status_code == 401 and "could not be checked" in error_of(phished)
        assert (await second_step(pat, passkey=await passkey_answer(pat, key, count=5))).status_code == 303
        await sign_out(pat)
        await password_step(pat)
        cloned = await second_step(pat, passkey=await passkey_answer(pat, key, count=5))
        assert cloned.status_code == 401 and "copied passkey" in error_of(cloned)
        assert (await second_step(pat, passkey=await passkey_answer(pat, key))).status_code == 303
        assert await signed_in(pat)  # the genuine key, counting on, still works
        assert "Sign-in stopped at the second step: the right password, then a wrong passkey" in \
            (await pat.get("/settings/security")).text


async def test_another_persons_passkey_is_not_accepted(stack: Stack) -> None:
    pats, sams = device(stack), device(stack)
    async with browser(stack) as pat, browser(stack) as sam:
        await sign_up(pat)
        await add_passkey(pat, pats)
        await sign_up(sam, "sam")
        await add_passkey(sam, sams)
        await sign_out(sam)
        await password_step(sam, "sam")
        token = await csrf(sam, STEP)
        asked = await options(sam, STEP + "/passkey-options", token)
        refused = await second_step(sam, passkey=pats.get(asked))  # pat's key, on sam's challenge
        assert refused.status_code == 401 and "not one of this account" in error_of(refused)
        # and sam cannot remove pat's passkey by its id
        async with stack.deps.uow(readonly=True) as uow:
            pat_person = await uow.persons.by_handle("pat")
            assert pat_person is not None
            [pat_key] = await uow.factors.passkeys(pat_person.id)
        assert (await second_step(sam, passkey=await passkey_answer(sam, sams))).status_code == 303
        token = await csrf(sam, "/settings/security")
        gone = await sam.post(REMOVE, data={"csrf": token, "passkey_id": pat_key.id})
        assert gone.status_code == 404
        async with stack.deps.uow(readonly=True) as uow:
            assert len(await uow.factors.passkeys(pat_person.id)) == 1


async def test_a_registration_challenge_belongs_to_its_session(stack: Stack) -> None:
    key = device(stack)
    async with browser(stack) as laptop, browser(stack) as phone:
        await sign_up(laptop)
        assert (await password_step(phone)).headers["location"] == "/"
        token = await csrf(laptop, "/settings")
        made = key.create(await options(laptop, "/settings/security/passkeys/options", token))
        phone_token = await csrf(phone, "/settings")
        refused = await phone.post("/settings/security/passkeys",
                                   data={"csrf": phone_token, "credential": made, "name": "x"})
        assert refused.status_code == 401 or "expired" in refused.text
        ok = await laptop.post("/settings/security/passkeys",
                               data={"csrf": token, "credential": made, "name": "x"})
        assert ok.status_code == 200
        again = await laptop.post("/settings/security/passkeys",
                                  data={"csrf": token, "credential": made, "name": "x"})
        assert "expired" in again.text  # the challenge was used


async def test_several_named_passkeys_and_removing_them(stack: Stack, clock: FrozenClock) -> None:
    first, second = device(stack), device(stack)
    async with browser(stack) as pat:
        await sign_up(pat)
        await add_passkey(pat, first, name="Work \u202elaptop\u202c")  # a bidi override is dropped
        added = await add_passkey(pat, second, name="Phone")
        assert added.status_code == 303 and added.headers["location"].endswith("notice=passkey_added")
        long_name = await add_passkey(pat, device(stack), name="n" * 65)
        assert long_name.status_code == 400 and "at most 64" in long_name.text
        page = (await pat.get("/settings/security")).text
        assert "Work laptop" in page and "Phone" in page and "\u202e" not in page
        async with stack.deps.uow(readonly=True) as uow:
            person = await uow.persons.by_handle("pat")
            assert person is not None
            keys = {k.name: k for k in await uow.factors.passkeys(person.id)}
        token = await csrf(pat, "/settings/security")
        one = await pat.post(REMOVE, data={"csrf": token, "passkey_id": keys["Work laptop"].id})
        assert one.headers["location"] == "/settings/security?notice=removed"
        await sign_out(pat)
        await password_step(pat)
        removed_key = await second_step(pat, passkey=await passkey_answer(pat, first))
        assert removed_key.status_code == 401
        assert (await second_step(pat, passkey=await passkey_answer(pat, second))).status_code == 303
        token = await csrf(pat, "/settings/security")
        last = await pat.post(REMOVE, data={"csrf": token, "passkey_id": keys["Phone"].id})
        assert last.headers["location"] == "/settings/security?notice=off"
        await sign_out(pat)
        assert (await password_step(pat)).headers["location"] == "/"


async def test_a_passkey_confirms_an_export(stack: Stack, clock: FrozenClock) -> None:
    key = device(stack)
    async with browser(stack) as pat:
        await sign_up(pat)
        await add_passkey(pat, key)
        clock.advance(timedelta(minutes=6))
        assert (await pat.get("/settings/export.json")).status_code == 303
        settings = await pat.get("/settings")
        assert 'data-testid="export-confirm-form"' in settings.text
        assert 'data-testid="use-passkey"' in settings.text
        token = await csrf(pat, "/settings")
        asked = await options(pat, "/confirm/passkey-options", token)
        ok = await pat.post("/confirm", data={"csrf": token, "next": "/settings#export",
                                              "factor_passkey": key.get(asked)})
        assert ok.status_code == 303 and ok.headers["location"] == "/settings#export"
        export = await pat.get("/settings/export.json")
        assert export.status_code == 200 and json.loads(export.text)["person"]["handle"] == "pat"
