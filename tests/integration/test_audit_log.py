"""The audit log end to end: real deliveries write it, tampering with the stored rows is found
and named, signed tree heads verify with the published key, proofs verify over HTTP, the
person sees their own accesses (and nobody else's), in the page, the API, the chat and the CLI."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, select, update
from tests.conftest import Stack, running_stack
from tests.integration.test_linking_flow import _linked
from tests.integration.test_web_messenger import PASSWORD, sign_up
from typer.testing import CliRunner

from ledgerlink.adapters.db import schema as s
from ledgerlink.domain.audit import (
    AuditEntry,
    TreeHead,
    leaf_hash,
    merkle_root,
    verify_consistency,
    verify_inclusion,
)
from ledgerlink.domain.clock import FrozenClock
from ledgerlink.domain.errors import Conflict
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.entrypoints.cli import app as cli
from ledgerlink.services import access
from ledgerlink.services.messaging import messenger
from ledgerlink.services.privacy import audit as audit_log
from ledgerlink.services.questions import commands

A = s.audit_log


async def _rows(stack: Stack) -> list[dict]:
    async with stack.container.engine.connect() as conn:
        return [dict(r._mapping) for r in (await conn.execute(select(A).order_by(A.c.seq))).all()]


async def _tamper(stack: Stack, *statements: object) -> None:
    async with stack.container.engine.begin() as conn:
        for statement in statements:
            await conn.execute(statement)  # type: ignore[call-overload]


def _found(report: audit_log.VerifyReport) -> set[tuple[str, int | None]]:
    return {(f.check, f.index) for f in report.findings}


async def _log_some(stack: Stack, person_id: str, n: int, *, component: str = "delivery") -> None:
    """Audit entries as the access functions write them, `n` of them, a minute apart."""
    for i in range(n):
        async with stack.deps.uow() as uow:
            await access.audit(
                uow,
                Grant.for_component(person_id, component),
                Purpose.DELIVER_UPDATE,
                action="read_messages",
                subject=f"thread:thr_{person_id[-6:]} messages:{i + 1}",
                at=stack.deps.clock.now() + timedelta(minutes=i),
            )
            await uow.commit()


def _jwk_verify(jwks: dict, head: dict) -> bool:
    [key] = [k for k in jwks["keys"] if k["kid"] == head["key_id"]]
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(key["x"] + "=="))
    signed = json.dumps(
        {k: head[k] for k in ("format", "key_id", "root_hash", "timestamp", "tree_size")},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    try:
        public.verify(base64.b64decode(head["signature"]), signed)
    except Exception:
        return False
    return True


# --------------------------------------------------------------------------- verify


async def test_deliveries_write_the_log_and_an_untouched_log_verifies(stack: Stack) -> None:
    await _linked(stack)
    rows = await _rows(stack)
    assert rows and [r["seq"] for r in rows] == list(range(len(rows)))
    assert {"deliver_update", "sync_with_bank"} <= {r["purpose"] for r in rows}
    head = await audit_log.sign_tree_head(stack.deps)
    assert head.tree_size == len(rows)
    report = await audit_log.verify_log(stack.deps, saved_head=head)
    assert report.intact, report.findings
    assert report.heads_checked == 1 and report.root_hash == head.root_hash


async def test_a_changed_purpose_is_reported_at_its_index(stack: Stack) -> None:
    await _linked(stack)
    await _tamper(stack, update(A).where(A.c.seq == 3).values(purpose="fraud_check"))
    report = await audit_log.verify_log(stack.deps)
    assert _found(report) == {("changed", 3)}


async def test_a_removed_entry_is_reported_as_missing(stack: Stack) -> None:
    await _linked(stack)
    await _tamper(stack, delete(A).where(A.c.seq == 2))
    assert _found(await audit_log.verify_log(stack.deps)) == {("missing", 2)}


async def test_two_swapped_entries_are_reported_as_moved(stack: Stack) -> None:
    await _linked(stack)
    rows = await _rows(stack)
    first, second = rows[1], rows[4]
    fields = ("at", "actor", "person_id", "purpose", "action", "subject", "leaf_hash")
    await _tamper(
        stack,
        update(A).where(A.c.seq == 1).values(**{f: second[f] for f in fields}),
        update(A).where(A.c.seq == 4).values(**{f: first[f] for f in fields}),
    )
    assert _found(await audit_log.verify_log(stack.deps)) == {("moved", 1), ("moved", 4)}


async def test_a_rewrite_that_fixes_the_leaf_hash_is_caught_by_the_signed_heads(stack: Stack) -> None:
    await _linked(stack)
    early = await audit_log.sign_tree_head(stack.deps)
    await _log_some(stack, (await _rows(stack))[0]["person_id"], 3)
    later = await audit_log.sign_tree_head(stack.deps)
    assert later.tree_size == early.tree_size + 3
    row = (await _rows(stack))[2]
    forged = AuditEntry(
        index=2,
        **{f: row[f] for f in ("at", "actor", "person_id", "action", "subject")},
        purpose="fraud_check",
    )
    await _tamper(
        stack,
        update(A).where(A.c.seq == 2).values(purpose="fraud_check", leaf_hash=forged.leaf_hash().hex()),
    )
    report = await audit_log.verify_log(stack.deps, saved_head=early)
    checks = {(f.check, f.tree_size) for f in report.findings}
    assert checks == {
        ("head_root", early.tree_size),
        ("head_root", later.tree_size),
        ("saved_head_inconsistent", early.tree_size),
        ("checkpoint_root", early.tree_size),  # the copies outside the database agree
        ("checkpoint_root", later.tree_size),
    }
    assert report.findings[0].index == 0  # no earlier head matched: somewhere in 0..size-1
    await _log_some(stack, row["person_id"], 1)
    with pytest.raises(Conflict, match="no longer matches"):
        await audit_log.sign_tree_head(stack.deps)  # refuses to sign over a rewritten log


async def test_dropping_the_newest_entries_is_caught_by_a_signed_head(stack: Stack) -> None:
    await _linked(stack)
    head = await audit_log.sign_tree_head(stack.deps)
    await _tamper(stack, delete(A).where(A.c.seq == head.tree_size - 1))
    report = await audit_log.verify_log(stack.deps)
    assert {(f.check, f.tree_size) for f in report.findings} == {
        ("head_beyond_log", head.tree_size), ("checkpoint_beyond_log", head.tree_size)
    }


async def test_a_forged_head_signature_is_reported(stack: Stack) -> None:
    await _linked(stack)
    head = await audit_log.sign_tree_head(stack.deps)
    bad = base64.b64encode(bytes(64)).decode()
    await _tamper(stack, update(s.audit_tree_heads).values(signature=bad))
    report = await audit_log.verify_log(stack.deps)
    assert {(f.check, f.tree_size) for f in report.findings} == {("head_signature", head.tree_size)}


# --------------------------------------------------------------------------- signing and proofs


async def test_signing_is_idempotent_and_the_head_verifies_with_the_published_jwks(stack: Stack) -> None:
    await _linked(stack)
    head = await audit_log.sign_tree_head(stack.deps)
    assert await audit_log.sign_tree_head(stack.deps) == head  # nothing changed: same head
    async with stack.client() as client:
        published = (await client.get("/audit/tree-head")).json()
        jwks = (await client.get("/.well-known/jwks.json")).json()
    assert published["tree_size"] == head.tree_size and published["root_hash"] == head.root_hash.hex()
    assert TreeHead.from_dict(published) == head
    assert _jwk_verify(jwks, published)
    assert not _jwk_verify(jwks, {**published, "tree_size": head.tree_size + 1})


async def test_run_signer_signs_as_the_log_grows(stack: Stack) -> None:
    person = await messenger.register(stack.deps, handle="ric", display_name="Ric", password=PASSWORD)
    task = asyncio.create_task(audit_log.run_signer(stack.deps, 0.02))
    try:
        await _log_some(stack, person, 2)
        for _ in range(200):
            latest = await audit_log.latest_tree_head(stack.deps)
            if latest is not None and latest.tree_size == 2:
                break
            await asyncio.sleep(0.02)
        await _log_some(stack, person, 1)
        for _ in range(200):
            latest = await audit_log.latest_tree_head(stack.deps)
            if latest is not None and latest.tree_size == 3:
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert latest is not None and latest.tree_size == 3
    assert (await audit_log.verify_log(stack.deps)).intact


async def test_proofs_over_http_verify_against_the_signed_heads(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    early = await audit_log.sign_tree_head(stack.deps)
    await _log_some(stack, grant.person_id, 5)
    later = await audit_log.sign_tree_head(stack.deps)
    async with stack.client() as client:
        for index in (0, early.tree_size - 1, later.tree_size - 1):
            proof = (await client.get("/audit/proof/inclusion", params={"index": index})).json()
            assert proof["tree_size"] == later.tree_size
            assert verify_inclusion(
                bytes.fromhex(proof["leaf_hash"]),
                index=index,
                tree_size=later.tree_size,
                path=[bytes.fromhex(p) for p in proof["audit_path"]],
                root=later.root_hash,
            )
        c = (await client.get("/audit/proof/consistency", params={"first": early.tree_size})).json()
        assert verify_consistency(
            [bytes.fromhex(p) for p in c["consistency_path"]],
            old_size=early.tree_size,
            new_size=later.tree_size,
            old_root=early.root_hash,
            new_root=later.root_hash,
        )
        outside = await client.get("/audit/proof/inclusion", params={"index": 5, "tree_size": 5})
        assert outside.status_code == 422 and outside.json()["code"] == "index_outside_tree"
        assert outside.headers["content-type"] == "application/problem+json"
        future = await client.get("/audit/proof/consistency", params={"first": 1, "second": 10**6})
        assert future.status_code == 404 and future.json()["code"] == "tree_size_unknown"
        backwards = await client.get("/audit/proof/consistency", params={"first": 9, "second": 3})
        assert backwards.status_code == 422 and backwards.json()["code"] == "bad_tree_sizes"
        assert (await client.get("/audit/proof/inclusion", params={"index": -1})).status_code == 422


# --------------------------------------------------------------------------- the person's view


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=stack.app)
    async with httpx.AsyncClient(transport=transport, base_url=stack.platform_url) as c:
        yield c


async def _two_people(stack: Stack, client: httpx.AsyncClient) -> tuple[str, str]:
    """`pat`, signed in on `client`, with 3 entries; `quinn` with 2 entries in between."""
    assert (await sign_up(client, "pat")).status_code == 303
    pat = await messenger.authenticate(stack.deps, handle="pat", password=PASSWORD)
    quinn = await messenger.register(stack.deps, handle="quinn", display_name="Quinn", password=PASSWORD)
    await _log_some(stack, pat, 1, component="sync")
    await _log_some(stack, quinn, 2)
    await _log_some(stack, pat, 2)
    return pat, quinn


async def test_the_page_lists_my_accesses_newest_first_in_plain_words_and_nobody_elses(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/privacy/accesses")).headers["location"] == "/login"
    _, quinn = await _two_people(stack, client)
    await audit_log.sign_tree_head(stack.deps)
    html = (await client.get("/privacy/accesses/entries")).text  # the entries behind the grouped page
    indexes = [int(i) for i in re.findall(r'data-testid="access" data-index="(\d+)"', html)]
    assert indexes == [4, 3, 0]
    assert html.count("Ledgerlink delivery") == 2 and "Ledgerlink sync" in html
    assert "To send you an update in your messenger." in html and "read messages in a thread" in html
    assert quinn not in html and quinn[-6:] not in html
    assert "deliver_update" not in html  # plain words, not codes
    assert 'data-testid="tree-head-root"' in html
    again = (await client.get("/privacy/accesses/entries")).text  # reading the list was itself logged
    first = re.search(r'data-testid="access" data-index="(\d+)".*?access-who">([^<]+)<', again, re.S)
    assert first is not None and first.group(2) == "You"
    assert "this list of accesses" in again and "To show you your own data" in again


async def test_entries_api_gives_data_only_for_my_own_entries(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    _, quinn = await _two_people(stack, client)
    body = (await client.get("/audit/entries", params={"start": 0, "end": 5})).json()
    leaves = body["leaves"]
    assert [leaf["index"] for leaf in leaves] == [0, 1, 2, 3, 4]
    assert [leaf["entry"] is not None for leaf in leaves] == [True, False, False, True, True]
    assert quinn not in json.dumps(body)
    rows = await _rows(stack)
    for leaf in leaves:
        assert leaf["leaf_hash"] == rows[leaf["index"]]["leaf_hash"]
        if leaf["entry"] is not None:
            data = leaf["entry"]["leaf_data"].encode()
            assert leaf_hash(data).hex() == leaf["leaf_hash"]
    async with stack.client() as stranger:
        public = (await stranger.get("/audit/entries", params={"start": 0, "end": 5})).json()
    assert all(leaf["entry"] is None for leaf in public["leaves"])
    too_many = await client.get("/audit/entries", params={"start": 0, "end": 5000})
    assert too_many.status_code == 422 and too_many.json()["code"] == "range_too_large"


async def test_asking_in_chat_who_accessed_my_data_answers_in_plain_words(stack: Stack) -> None:
    grant, thread_id = await _linked(stack)
    await commands.handle_text(stack.deps, grant, thread_id, "Who has accessed my data?")
    answer = (await messenger.thread_messages(stack.deps, grant, thread_id))[-1]
    text = answer.body["text"]  # a summary of today (issue 13), the entries are on the page
    assert text.startswith("Today: ") and "reads to send you updates" in text
    assert text.endswith("none by a person. See all: /privacy/accesses") and len(text.splitlines()) == 1
    assert {"label": "See all", "href": "/privacy/accesses"} in answer.body["actions"]


# --------------------------------------------------------------------------- the CLI

runner = CliRunner()


async def _cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, cli, ["audit", *args])
    return result.exit_code, result.output


async def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with running_stack(tmp_path, f"sqlite:///{data / 'ledgerlink.db'}") as stack:
        await _linked(stack)
        saved = tmp_path / "head.json"
        code, out = await _cli("tree-head", "--data-dir", str(data), "--out", str(saved))
        assert code == 0, out
        assert json.loads(saved.read_text())["tree_size"] == len(await _rows(stack))

        code, out = await _cli("verify", "--data-dir", str(data), "--tree-head", str(saved))
        assert code == 0, out
        assert "intact" in out

        await _tamper(stack, update(A).where(A.c.seq == 1).values(subject="account:acc_forged"))
        code, out = await _cli("verify", "--data-dir", str(data))
        assert code == 1, out
        assert "changed" in out and "entry 1" in out

    code, out = await _cli("verify", "--data-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no database" in out and "Traceback" not in out
    (tmp_path / "junk.json").write_text("{}")
    code, out = await _cli("verify", "--data-dir", str(data), "--tree-head", str(tmp_path / "junk.json"))
    assert code == 2 and "not a saved tree head" in out
    code, out = await _cli("verify", "--data-dir", str(data), "--tree-head", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in out


# --------------------------------------------------------------------------- checkpoints outside the database
# The attacker here has write access to the database (and, where said, the signing key); the
# checkpoint file in the data dir and the copies monitors keep are out of their reach.

LATER = timedelta(minutes=10)  # past the grace an unsigned entry has (twice the interval + 1 min)


@pytest.fixture
async def clocked(tmp_path: Path, db_url: str) -> AsyncIterator[tuple[Stack, FrozenClock]]:
    clock = FrozenClock(datetime.now(UTC))
    async with running_stack(tmp_path, db_url, clock=clock) as s:
        yield s, clock


def _checks(report: audit_log.VerifyReport) -> set[tuple[str, int | None]]:
    return {(f.check, f.tree_size) for f in report.findings}


def _open_note(note: str, vkey: str) -> tuple[str, int, bytes]:
    """Check a signed note as Go's sumdb/note `Open` does, written from the C2SP spec alone:
    the verifier key `<name>+<hex id>+base64(0x01 || key)`, a signature line by that name and
    id over the text. Returns (origin, tree size, root)."""
    name, key_hex, blob = vkey.split("+", 2)
    raw = base64.b64decode(blob)
    assert raw[0] == 1 and len(raw) == 33
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_hex
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        dash, signer, sig = line.split(" ")
        decoded = base64.b64decode(sig)
        if dash == "\u2014" and signer == name and decoded[:4].hex() == key_hex:
            Ed25519PublicKey.from_public_bytes(raw[1:]).verify(decoded[4:], text.encode())
            origin, size, root = text.splitlines()
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("no signature by this key")


async def test_each_signed_head_is_appended_to_the_checkpoint_file_and_served(stack: Stack) -> None:
    grant, _ = await _linked(stack)
    early = await audit_log.sign_tree_head(stack.deps)
    await _log_some(stack, grant.person_id, 2)
    later = await audit_log.sign_tree_head(stack.deps)
    assert await audit_log.sign_tree_head(stack.deps) == later  # nothing new: nothing appended
    path = stack.container.settings.data_dir / "audit-checkpoints"
    assert path.stat().st_mode & 0o777 == 0o600
    async with stack.client() as client:
        vkeys = (await client.get("/audit/checkpoint/keys")).text.splitlines()
        latest = await client.get("/audit/checkpoint")
        as_text = await client.get("/audit/tree-head", headers={"accept": "text/plain"})
        head_json = (await client.get("/audit/tree-head")).json()
        history = (await client.get("/audit/tree-head/history", params={"limit": 1})).json()
        rest = (await client.get(history["next"])).json()
        plain = await client.get("/audit/tree-head/history", headers={"accept": "text/plain"})
    assert latest.headers["content-type"] == "text/plain; charset=utf-8"
    assert latest.text == as_text.text == head_json["checkpoint"]
    [vkey] = vkeys
    origin, size, root = _open_note(latest.text, vkey)
    assert (size, root) == (later.tree_size, later.root_hash) and vkey.startswith(origin + "+")
    assert [c["tree_size"] for c in history["checkpoints"] + rest["checkpoints"]] == [
        early.tree_size, later.tree_size
    ]
    assert rest["next"] is None
    assert plain.text == path.read_text()  # the file itself: notes, each followed by an empty line
    for c in history["checkpoints"] + rest["checkpoints"]:
        assert _open_note(c["checkpoint"], vkey)[1:] == (c["tree_size"], bytes.fromhex(c["root_hash"]))
    assert (await audit_log.verify_log(stack.deps)).intact


async def test_deleted_heads_are_found(clocked: tuple[Stack, FrozenClock]) -> None:
    stack, clock = clocked
    await _linked(stack)
    head = await audit_log.sign_tree_head(stack.deps)
    await _tamper(stack, delete(s.audit_tree_heads))
    report = await audit_log.verify_log(stack.deps)
    assert not report.intact
    assert _checks(report) == {("checkpoint_head_missing", head.tree_size)}
    clock.advance(LATER)  # and once the signer should have signed them, the log has no head at all
    report = await audit_log.verify_log(stack.deps)
    assert _checks(report) == {("checkpoint_head_missing", head.tree_size), ("no_tree_head", None)}


async def test_a_rollback_to_an_older_head_is_found_and_not_signed_over(
    clocked: tuple[Stack, FrozenClock],
) -> None:
    stack, _ = clocked
    grant, _ = await _linked(stack)
    early = await audit_log.sign_tree_head(stack.deps)
    await _log_some(stack, grant.person_id, 4)
    later = await audit_log.sign_tree_head(stack.deps)
    T = s.audit_tree_heads
    await _tamper(stack, delete(A).where(A.c.seq >= early.tree_size),
                  delete(T).where(T.c.tree_size > early.tree_size))
    report = await audit_log.verify_log(stack.deps)  # the database alone is consistent again
    assert not report.intact
    assert _checks(report) == {
        ("checkpoint_beyond_log", later.tree_size), ("checkpoint_head_missing", later.tree_size)
    }
    with pytest.raises(Conflict, match="shorter"):
        await audit_log.sign_tree_head(stack.deps)
    await _log_some(stack, grant.person_id, 6, component="sync")  # a new history grows past the old
    with pytest.raises(Conflict, match="no longer matches"):
        await audit_log.sign_tree_head(stack.deps)
    assert ("checkpoint_root", later.tree_size) in _checks(await audit_log.verify_log(stack.deps))


async def test_a_rewritten_row_with_recomputed_hash_and_re_signed_head_is_found(
    clocked: tuple[Stack, FrozenClock],
) -> None:
    """Even an attacker holding the signing key cannot make the database agree with the
    checkpoints already written outside it."""
    stack, _ = clocked
    await _linked(stack)
    head = await audit_log.sign_tree_head(stack.deps)
    row = (await _rows(stack))[2]
    forged = AuditEntry(index=2, **{f: row[f] for f in ("at", "actor", "person_id", "action", "subject")},
                        purpose="fraud_check")
    await _tamper(stack, update(A).where(A.c.seq == 2).values(purpose="fraud_check",
                                                              leaf_hash=forged.leaf_hash().hex()))
    root = merkle_root([bytes.fromhex(r["leaf_hash"]) for r in await _rows(stack)])
    resigned = dataclasses.replace(head, root_hash=root)
    resigned = dataclasses.replace(resigned, signature=stack.deps.signer.sign(resigned.signed_bytes()))
    T = s.audit_tree_heads
    await _tamper(stack, update(T).where(T.c.tree_size == head.tree_size).values(
        root_hash=root.hex(), signature=base64.b64encode(resigned.signature).decode()))
    report = await audit_log.verify_log(stack.deps)
    assert not report.intact
    assert _checks(report) == {
        ("checkpoint_root", head.tree_size), ("checkpoint_head_differs", head.tree_size)
    }
    await _log_some(stack, row["person_id"], 1)
    with pytest.raises(Conflict):
        await audit_log.sign_tree_head(stack.deps)


async def test_an_unsigned_old_tail_is_found(clocked: tuple[Stack, FrozenClock]) -> None:
    stack, clock = clocked
    grant, _ = await _linked(stack)
    head = await audit_log.sign_tree_head(stack.deps)
    await _log_some(stack, grant.person_id, 3)  # a minute apart, from now on
    assert (await audit_log.verify_log(stack.deps)).intact  # young: the signer has time
    clock.advance(LATER)
    report = await audit_log.verify_log(stack.deps)
    assert not report.intact and report.unsigned_entries == 3
    assert {(f.check, f.index) for f in report.findings} == {("unsigned_tail", head.tree_size)}
    await audit_log.sign_tree_head(stack.deps)
    assert (await audit_log.verify_log(stack.deps)).intact


async def test_cli_verify_finds_a_truncated_tail_and_deleted_heads(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clock = FrozenClock(datetime.now(UTC) - timedelta(hours=1))  # entries an hour old by now
    async with running_stack(tmp_path, f"sqlite:///{data / 'ledgerlink.db'}", clock=clock) as stack:
        grant, _ = await _linked(stack)
        code, out = await _cli("tree-head", "--data-dir", str(data))
        assert code == 0, out
        await _log_some(stack, grant.person_id, 3)
        clock.advance(timedelta(minutes=5))
        later = await audit_log.sign_tree_head(stack.deps)
        code, intact = await _cli("verify", "--data-dir", str(data))
        assert code == 0, intact
        T = s.audit_tree_heads
        await _tamper(stack, delete(A).where(A.c.seq >= later.tree_size - 2),
                      delete(T).where(T.c.tree_size == later.tree_size))
        code, out = await _cli("verify", "--data-dir", str(data))
        assert code == 1, out
        assert "checkpoint_beyond_log" in out and "checkpoint_head_missing" in out
        await _tamper(stack, delete(T))
        code, out = await _cli("verify", "--data-dir", str(data))
        assert code == 1, out
        assert "Signed heads checked" in out and "no_tree_head" in out and "checkpoint_head_missing" in out
        code, out = await _cli("verify", "--data-dir", str(data), "--no-checkpoints")
        assert code == 1 and "no_tree_head" in out  # even without the file: old entries, no head
    assert "Checkpoints checked" in intact and f"Checkpoints compared: {data / 'audit-checkpoints'}" in intact
