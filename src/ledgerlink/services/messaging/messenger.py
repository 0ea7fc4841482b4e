"""The person's side of the messenger: accounts, sessions' identity, threads and messages."""

from __future__ import annotations

import asyncio
import re
import secrets
import weakref
from dataclasses import dataclass

from ledgerlink.domain.cards import text_card
from ledgerlink.domain.chat import CardKind, ThreadKind
from ledgerlink.domain.errors import Conflict, InvalidInput, NotFound, Unauthorized
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.passwords import normalise, password_problem
from ledgerlink.domain.privacy import Grant, Purpose
from ledgerlink.domain.statements import FILES_LINK_STATUS
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord, PasswordHasher
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.messaging import outgoing
from ledgerlink.services.messaging.ports import MessageView, PersonRecord, ThreadRecord

_HANDLE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")

WELCOME = (
    "Welcome to ledgerlink. Link a bank and each bank gets its own thread here, with balances "
    "and transactions as they happen. Your financial data is never used for advertising, and "
    "every access to it is logged for you to see."
)


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    id: str
    kind: ThreadKind
    title: str
    partner_id: str | None
    link_id: str | None
    last_rev: int
    last_seq: int
    active: bool  # False once the bank link behind a bank thread has ended
    from_files: bool = False  # the "Statement files" thread: accounts known only from files (ADR 0022)


async def ensure_system_thread(deps: Deps, uow: UnitOfWork, person_id: str) -> ThreadRecord:
    thread = await uow.threads.system_thread(person_id)
    if thread is not None:
        return thread
    thread = ThreadRecord(
        id=new_id("thr"),
        person_id=person_id,
        kind=ThreadKind.SYSTEM.value,
        title="Ledgerlink",
        partner_id=None,
        link_id=None,
        created_at=deps.clock.now(),
        last_rev=0,
        last_seq=0,
    )
    await uow.threads.add(thread)
    return thread


async def register(deps: Deps, *, handle: str, display_name: str, password: str) -> str:
    """Create a messenger account with its data key and system thread. Returns the person id."""
    handle = handle.strip().lower()
    if not _HANDLE.match(handle):
        raise InvalidInput(
            "handle must be 2-32 characters: lowercase letters, digits, _ . -", code="bad_handle"
        )
    problem = password_problem(password, handle=handle)
    if problem is not None:
        raise InvalidInput(problem.message, code=problem.code)
    display_name = display_name.strip()[:128] or handle
    password_hash = await asyncio.to_thread(deps.hasher.hash, normalise(password))
    now = deps.clock.now()
    async with deps.uow() as uow:
        if await uow.persons.by_handle(handle) is not None:
            raise Conflict("that handle is taken", code="handle_taken")
        person_id = new_id("per")
        await uow.persons.add(
            PersonRecord(
                id=person_id,
                handle=handle,
                display_name=display_name,
                password_hash=password_hash,
                created_at=now,
            )
        )
        await deps.vault.create_key(person_id, at=now)
        thread = await ensure_system_thread(deps, uow, person_id)
        await post_text(deps, uow, thread, WELCOME, actions=[{"label": "Link a bank", "href": "/link"}])
        await deps.commit_and_publish(uow)
    return person_id


async def authenticate(deps: Deps, *, handle: str, password: str) -> str:
    """The person id for a handle and password. An unknown or erased handle costs one password
    check against a hash made by the same hasher, so it answers like a wrong password, in about
    the same time (throttling is `auth.sessions.sign_in`)."""
    async with deps.uow(readonly=True) as uow:
        person = await uow.persons.by_handle(handle.strip().lower())
    if person is None or person.erased_at is not None:
        await _check(deps, await _dummy_hash(deps), password)  # even timing
        raise Unauthorized("wrong handle or password", code="bad_credentials")
    if not await _check(deps, person.password_hash, password):
        raise Unauthorized("wrong handle or password", code="bad_credentials")
    return person.id


async def verify_password(deps: Deps, person: PersonRecord, password: str) -> bool:
    """The person's own password again (re-authentication before a sensitive action)."""
    return person.erased_at is None and await _check(deps, person.password_hash, password)


async def _check(deps: Deps, hashed: str, password: str) -> bool:
    """Passwords are hashed after NFKC (domain/passwords.py); one set before that rule may
    differ from its normalised form (non-ASCII only), so that form is tried second."""
    normal = normalise(password)
    for candidate in (normal, password) if normal != password else (normal,):
        if await asyncio.to_thread(deps.hasher.verify, hashed, candidate):
            return True
    return False


_DUMMY_HASHES: weakref.WeakKeyDictionary[PasswordHasher, str] = weakref.WeakKeyDictionary()


async def _dummy_hash(deps: Deps) -> str:
    """A hash of a random password by this hasher (same costs as real ones), made once."""
    hashed = _DUMMY_HASHES.get(deps.hasher)
    if hashed is None:
        hashed = await asyncio.to_thread(deps.hasher.hash, secrets.token_urlsafe(24))
        _DUMMY_HASHES[deps.hasher] = hashed
    return hashed


async def get_person(deps: Deps, person_id: str) -> PersonRecord:
    async with deps.uow() as uow:
        person = await uow.persons.get(person_id)
    if person is None or person.erased_at is not None:
        raise NotFound("person not found")
    return person


async def post_text(
    deps: Deps,
    uow: UnitOfWork,
    thread: ThreadRecord,
    text: str,
    *,
    tone: str = "info",
    actions: list[dict[str, str]] | None = None,
    subject_key: str | None = None,
) -> None:
    """Post a plain message (no financial data) into a thread, inside the caller's work."""
    grant = Grant.for_component(thread.person_id, "messenger")
    await outgoing.put_message(deps, uow, grant, thread, kind=CardKind.TEXT,
                               body=text_card(text, tone=tone, actions=actions), subject_key=subject_key)


async def list_threads(deps: Deps, grant: Grant) -> list[ThreadSummary]:
    async with deps.uow() as uow:
        threads = await uow.threads.for_person(grant.person_id)
        links = {link.id: link for link in await uow.links.for_person(grant.person_id)}
    return [
        ThreadSummary(
            id=t.id,
            kind=ThreadKind(t.kind),
            title=t.title,
            partner_id=t.partner_id,
            link_id=t.link_id,
            last_rev=t.last_rev,
            last_seq=t.last_seq,
            active=t.link_id is None or (t.link_id in links and links[t.link_id].status == "active"),
            from_files=t.link_id in links and links[t.link_id].status == FILES_LINK_STATUS,
        )
        for t in threads
    ]


async def _read(
    deps: Deps, grant: Grant, purpose: Purpose, thread_id: str, *, after_rev: int | None, limit: int
) -> list[MessageView]:
    async with deps.uow() as uow:
        views = await access.read_messages(
            deps.vault, uow, grant, purpose, thread_id,
            at=deps.clock.now(), after_rev=after_rev, limit=limit,
        )  # fmt: skip
        await uow.commit()  # the audit entries
    return views


async def thread_messages(
    deps: Deps, grant: Grant, thread_id: str, *, after_rev: int | None = None, limit: int = 100
) -> list[MessageView]:
    """The person reads their own thread (purpose show_to_person). Someone else's -> NotFound."""
    return await _read(deps, grant, Purpose.SHOW_TO_PERSON, thread_id, after_rev=after_rev, limit=limit)


async def changes_for_delivery(
    deps: Deps, grant: Grant, thread_id: str, *, after_rev: int, limit: int = 200
) -> list[MessageView]:
    """The changes after `after_rev`, read to push them to live connections (deliver_update)."""
    return await _read(deps, grant, Purpose.DELIVER_UPDATE, thread_id, after_rev=after_rev, limit=limit)


async def bank_partners(deps: Deps) -> list[PartnerRecord]:
    async with deps.uow() as uow:
        return [p for p in await uow.partners.all() if p.kind == "bank"]
