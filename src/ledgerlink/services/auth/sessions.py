"""Server-side sign-in sessions (ADR 0019) and the second sign-in step's start (ADR 0021).

The browser's cookie carries a random token (256 bits); the database keeps only its SHA-256
(`sessions.id`). A request is signed in while that row exists and has not expired by the
injected clock, so a session can be ended for good: signing out deletes its row (a copied cookie
stops working), "sign out everywhere" and erasure delete every row of the person. Sessions last
`LIFETIME` (14 days) from sign-in, however active.

A person with a second factor (a passkey or an authenticator app) gets no session from the
password alone: `sign_in` raises `SecondStepRequired` with the token of a *pending* sign-in,
which is not a session (no data route knows it) and expires after `SECOND_STEP_WINDOW`;
`second_step.complete` turns it into a session.

Sensitive actions (export, adding a channel or a factor) need the person to have proved it is
them within `CONFIRM_WINDOW` (5 minutes): with the password, or, once they have a second
factor, with that factor (`confirmed_with`). Erasure asks every time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from ledgerlink.domain.errors import Unauthorized
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.auth.ports import PASSKEY, TOTP, PendingSignInRecord, SessionRecord
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging import messenger
from ledgerlink.services.messaging.ports import PersonRecord

__all__ = ["CONFIRM_WINDOW", "LIFETIME", "SECOND_STEP_WINDOW", "SecondStepRequired", "Session",
           "SignedInPerson", "confirm_password", "end", "end_all", "recently_confirmed", "resolve",
           "session_id", "sign_in", "sign_up", "start"]

LIFETIME = timedelta(days=14)
CONFIRM_WINDOW = timedelta(minutes=5)
SECOND_STEP_WINDOW = timedelta(minutes=5)  # the half-state between password and second step

PASSWORD = "password"
SECOND_FACTOR = "second_factor"


@dataclass(slots=True)
class SignedInPerson(PersonRecord):
    """The person of a live session, with the second factors they have (what the pages offer
    to confirm it is them)."""

    factors: frozenset[str] = frozenset()

    @property
    def second_factor(self) -> bool:
        return bool(self.factors)

    @property
    def has_totp(self) -> bool:
        return TOTP in self.factors

    @property
    def has_passkey(self) -> bool:
        return PASSKEY in self.factors


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in request: whose, and which session (its id, never its token)."""

    id: str
    person: SignedInPerson
    record: SessionRecord

    @property
    def grant(self) -> Grant:
        return Grant.for_person(self.person.id)

    @property
    def second_factor(self) -> bool:
        return self.person.second_factor


class SecondStepRequired(Unauthorized):
    """The password was right and the person has a second factor: no session yet. `token`
    names the pending sign-in (for the cookie; never stored or logged)."""

    code = "second_factor_required"

    def __init__(self, token: str) -> None:
        super().__init__("the second step of the sign-in is needed")
        self.token = token


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(deps: Deps, person_id: str, *, method: str = PASSWORD) -> str:
    """A new session for the person, who just proved it is them with `method`. Returns the
    token for the cookie: it is never stored or logged."""
    token = secrets.token_urlsafe(32)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.sessions.end_expired(person_id, now)
        await uow.sessions.add(SessionRecord(id=session_id(token), person_id=person_id, created_at=now,
                                             expires_at=now + LIFETIME, confirmed_at=now,
                                             confirmed_with=method))
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
        kinds = await uow.factors.kinds(person.id)
    fields = {f.name: getattr(person, f.name) for f in dataclasses.fields(PersonRecord)}
    return Session(id=sid, person=SignedInPerson(**fields, factors=kinds), record=record)


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
    """The person proved it is them within the last 5 minutes; with their second factor if
    they have one (a password entered since does not count for them)."""
    if deps.clock.now() - session.record.confirmed_at > CONFIRM_WINDOW:
        return False
    return not session.second_factor or session.record.confirmed_with == SECOND_FACTOR


async def confirm_password(deps: Deps, session: Session, password: str) -> None:
    """The person enters their password again before a sensitive action. Throttled with the
    account's sign-in attempts, so a stolen cookie is no faster way to guess it. Raises
    `Unauthorized` (code `bad_password`) or `TooManyRequests`. For a person with a second
    factor this alone does not open the 5 minutes (`recently_confirmed`)."""
    handle = session.person.handle
    await throttle.check(deps.limiter, throttle.SIGN_IN_ACCOUNT, handle)
    if not await messenger.verify_password(deps, session.person, password):
        raise Unauthorized("that is not your password", code="bad_password")
    if deps.limiter is not None:
        await deps.limiter.clear(throttle.SIGN_IN_ACCOUNT, handle)
    async with deps.uow() as uow:
        await uow.sessions.confirm(session.id, deps.clock.now(), method=PASSWORD)
        await uow.commit()


async def sign_in(deps: Deps, *, handle: str, password: str, address: str) -> str:
    """Check the password (throttled per typed handle and per client address; an unknown handle
    costs and answers exactly like a wrong password) and start a session. Returns its token.
    Raises `SecondStepRequired` instead when the person has a second factor."""
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
    async with deps.uow(readonly=True) as uow:
        kinds = await uow.factors.kinds(person_id)
    if kinds:
        raise SecondStepRequired(await _begin_second_step(deps, person_id))
    return await start(deps, person_id)


async def _begin_second_step(deps: Deps, person_id: str) -> str:
    token = secrets.token_urlsafe(32)
    now = deps.clock.now()
    async with deps.uow() as uow:
        await uow.sign_in_steps.end_expired_pending(person_id, now)
        await uow.sign_in_steps.add_pending(PendingSignInRecord(
            id=session_id(token), person_id=person_id, created_at=now, expires_at=now + SECOND_STEP_WINDOW))
        await uow.commit()
    return token


async def sign_up(deps: Deps, *, handle: str, display_name: str, password: str, address: str) -> str:
    """Create the account (throttled per client address) and start its first session."""
    await throttle.check(deps.limiter, throttle.REGISTER_ADDRESS, address)
    person_id = await messenger.register(deps, handle=handle, display_name=display_name,
                                         password=password)
    return await start(deps, person_id)
