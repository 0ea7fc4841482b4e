"""Server-side sign-in sessions (ADR 0019).

The browser's cookie carries a random token (256 bits); the database keeps only its SHA-256
(`sessions.id`). A request is signed in while that row exists and has not expired by the
injected clock, so a session can be ended for good: signing out deletes its row (a copied cookie
stops working), "sign out everywhere" and erasure delete every row of the person. Sessions last
`LIFETIME` (14 days) from sign-in, however active.

Sensitive actions (export, adding a channel) need the password entered within
`CONFIRM_WINDOW` (5 minutes): at sign-in, or again through `confirm_password`. Erasure asks for
it every time.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from ledgerlink.domain.errors import Unauthorized
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.auth.ports import SessionRecord
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.ports import PersonRecord

__all__ = ["CONFIRM_WINDOW", "LIFETIME", "Session", "confirm_password", "end", "end_all",
           "recently_confirmed", "resolve", "session_id", "sign_in", "sign_up", "start"]

LIFETIME = timedelta(days=14)
CONFIRM_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in request: whose, and which session (its id, never its token)."""

    id: str
    person: PersonRecord
    record: SessionRecord

    @property
    def grant(self) -> Grant:
        return Grant.for_person(self.person.id)


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(deps: Deps, person_id: str) -> str:
    """A new session for the person (the password was just entered). Returns the token for
    the cookie: it is never stored or logged."""
    token = secrets.token_urlsafe(32)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.sessions.end_expired(person_id, now)
        await uow.sessions.add(SessionRecord(id=session_id(token), person_id=person_id, created_at=now,
                                             expires_at=now + LIFETIME, confirmed_at=now))
        await uow.commit()
    return token


async def resolve(deps: Deps, token: str) -> Session | None:
    """The live session of the token, or None (unknown, ended, expired, or the person erased)."""
    sid = session_id(token)
    async with deps.uow(readonly=True) as uow:
        record = await uow.sessions.get(sid)
        if record is None or record.expires_at <= deps.clock.now():
            return None
        person = await uow.persons.get(record.person_id)
    if person is None or person.erased_at is not None:
        return None
    return Session(id=sid, person=person, record=record)


async def end(deps: Deps, token: str) -> str:
    """Sign out this session. Returns its id (to close its live connections)."""
    sid = session_id(token)
    async with deps.uow() as uow:
        await uow.sessions.end(sid)
        await uow.commit()
    return sid


async def end_all(deps: Deps, person_id: str) -> int:
    """Sign the person out everywhere (also after a password change, once there is one)."""
    async with deps.uow() as uow:
        ended = await uow.sessions.end_all(person_id)
        await uow.commit()
    return ended


def recently_confirmed(deps: Deps, session: Session) -> bool:
    return deps.clock.now() - session.record.confirmed_at <= CONFIRM_WINDOW


async def confirm_password(deps: Deps, session: Session, password: str) -> None:
    """The person enters their password again before a sensitive action. Throttled with the
    account's sign-in attempts, so a stolen cookie is no faster way to guess it. Raises
    `Unauthorized` (code `bad_password`) or `TooManyRequests`."""
    handle = session.person.handle
    await throttle.check(deps.limiter, throttle.SIGN_IN_ACCOUNT, handle)
    if not await messenger.verify_password(deps, session.person, password):
        raise Unauthorized("that is not your password", code="bad_password")
    if deps.limiter is not None:
        await deps.limiter.clear(throttle.SIGN_IN_ACCOUNT, handle)
    async with deps.uow() as uow:
        await uow.sessions.confirm(session.id, deps.clock.now())
        await uow.commit()


async def sign_in(deps: Deps, *, handle: str, password: str, address: str) -> str:
    """Check the password (throttled per typed handle and per client address; an unknown handle
    costs and answers exactly like a wrong password) and start a session. Returns its token."""
    typed = handle.strip().lower()
    await throttle.check(deps.limiter, throttle.SIGN_IN_ADDRESS, address, count=False)
    await throttle.check(deps.limiter, throttle.SIGN_IN_ACCOUNT, typed)  # counted before the check
    try:
        person_id = await messenger.authenticate(deps, handle=typed, password=password)
    except Unauthorized:
        if deps.limiter is not None:
            await deps.limiter.hit(throttle.SIGN_IN_ADDRESS, address)
        raise
    if deps.limiter is not None:
        await deps.limiter.clear(throttle.SIGN_IN_ACCOUNT, typed)  # consecutive attempts only
    return await start(deps, person_id)


async def sign_up(deps: Deps, *, handle: str, display_name: str, password: str, address: str) -> str:
    """Create the account (throttled per client address) and start its first session."""
    await throttle.check(deps.limiter, throttle.REGISTER_ADDRESS, address)
    person_id = await messenger.register(deps, handle=handle, display_name=display_name,
                                         password=password)
    return await start(deps, person_id)
