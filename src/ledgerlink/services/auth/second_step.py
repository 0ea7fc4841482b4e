"""The second step: of a sign-in (after the right password), and of re-authentication before a
sensitive action, for a person with a second factor (ADR 0021).

A pending sign-in is not a session: `sessions.resolve` does not know its token, so no page,
download or live feed works with it. It lasts `sessions.SECOND_STEP_WINDOW` (5 minutes) and
ends when the second step passes (a new session starts, confirmed with the second factor) or is
cancelled. Passkey challenges are bound to it (or, for re-authentication, to the session).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledgerlink.domain.errors import Unauthorized
from ledgerlink.services.auth import sessions
from ledgerlink.services.auth.factors import SecondFactors
from ledgerlink.services.auth.verification import CONFIRM, SIGN_IN, Proof
from ledgerlink.services.kernel.deps import Deps

__all__ = ["PendingSignIn", "SignedIn", "cancel", "complete", "confirm", "confirm_options", "passkey_options",
           "pending"]


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    id: str
    person_id: str
    handle: str
    factors: frozenset[str]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # the new session's, for the cookie
    proof: Proof


def _expired() -> Unauthorized:
    return Unauthorized("This sign-in has expired. Please enter your handle and password again.",
                        code="second_step_expired")


async def pending(deps: Deps, token: str) -> PendingSignIn | None:
    """The live pending sign-in of the token, or None (unknown, finished, expired, or the person
    has no second factor any more)."""
    pid = sessions.session_id(token)
    async with deps.uow(readonly=True) as uow:
        record = await uow.sign_in_steps.pending(pid)
        if record is None or record.expires_at <= deps.clock.now():
            return None
        person = await uow.persons.get(record.person_id)
        if person is None or person.erased_at is not None:
            return None
        kinds = await uow.factors.kinds(person.id)
    if not kinds:
        return None
    return PendingSignIn(id=pid, person_id=person.id, handle=person.handle, factors=kinds,
                         expires_at=record.expires_at)


async def passkey_options(factors: SecondFactors, token: str) -> str:
    step = await pending(factors.deps, token)
    if step is None:
        raise _expired()
    return await factors.verifier.assertion_options(step.person_id, owner=step.id, purpose=SIGN_IN)


async def complete(factors: SecondFactors, token: str, *, code: str = "", passkey: str = "") -> SignedIn:
    """Check the second factor and turn the pending sign-in into a session. Raises
    `Unauthorized` (expired), `FactorRefused` or `TooManyRequests`."""
    deps = factors.deps
    step = await pending(deps, token)
    if step is None:
        raise _expired()
    proof = await factors.verifier.check(step.person_id, owner=step.id, purpose=SIGN_IN, code=code,
                                         passkey=passkey)
    async with deps.uow() as uow:
        ended = await uow.sign_in_steps.end_pending(step.id)
        await uow.commit()
    if not ended:  # another request finished (or cancelled) this sign-in meanwhile
        raise _expired()
    session_token = await sessions.start(deps, step.person_id, method=sessions.SECOND_FACTOR)
    return SignedIn(token=session_token, proof=proof)


async def cancel(deps: Deps, token: str) -> None:
    async with deps.uow() as uow:
        await uow.sign_in_steps.end_pending(sessions.session_id(token))
        await uow.commit()


async def confirm_options(factors: SecondFactors, session: sessions.Session) -> str:
    """Passkey options to re-authenticate this session."""
    return await factors.verifier.assertion_options(session.person.id, owner=session.id, purpose=CONFIRM)


async def confirm(factors: SecondFactors, session: sessions.Session, *, code: str = "",
                  passkey: str = "") -> Proof:
    """Re-authenticate with the second factor: the next 5 minutes count as confirmed."""
    deps = factors.deps
    proof = await factors.verifier.check(session.person.id, owner=session.id, purpose=CONFIRM, code=code,
                                         passkey=passkey)
    async with deps.uow() as uow:
        await uow.sessions.confirm(session.id, deps.clock.now(), method=sessions.SECOND_FACTOR)
        await uow.commit()
    return proof
