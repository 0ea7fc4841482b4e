"""Checking a second factor: a code from the authenticator app, a passkey, or a recovery code
(ADR 0021). The same check serves the second sign-in step and re-authentication.

- TOTP (RFC 6238): the code of the current 30-second step or the one before or after (clocks
  drift); a step is accepted once, and never one at or before the last accepted step, by a
  compare-and-set on the row (two requests with the same code: one wins).
- Passkeys: the challenge was stored for this session (or pending sign-in) and purpose, and is
  deleted as it is read, so each challenge is answered once; the signature count must grow
  (py_webauthn) and is stored by compare-and-set.
- Recovery codes: single use by compare-and-set; the answer says how many are left.

Wrong answers count against the person's `SECOND_FACTOR_PERSON` throttle (counted before the
check, so parallel guesses cannot overshoot; cleared by a success) and go into the person's
security log. A code that cannot be one (wrong length, letters in a TOTP) is refused with
words saying so and is not counted.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import structlog

from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.access.factors import open_totp_secret
from ledgerlink.services.auth import recovery
from ledgerlink.services.auth.ports import (
    PASSKEY,
    TOTP,
    ChallengeRecord,
    FactorRefused,
    Passkeys,
    RelyingParty,
    SecurityEventRecord,
    TotpCodes,
)
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import RateRule
from ledgerlink.services.kernel.uow import UnitOfWork

__all__ = ["CONFIRM", "RECOVERY_CODE", "REGISTER", "SECOND_FACTOR_PERSON", "SIGN_IN", "Proof", "Verifier",
           "record_event", "relying_party"]

log = structlog.get_logger(__name__)

RECOVERY_CODE = "recovery_code"
SIGN_IN, CONFIRM, REGISTER = "sign_in", "confirm", "register"  # what a challenge is for

_MINUTE, _DAY = 60, 86400
# Wrong second factors per person (sign-in step, re-authentication, setting up an app): with 3
# valid TOTP codes per guess, 100 a day give a guesser 0.03 % a day.
SECOND_FACTOR_PERSON = RateRule("second_factor_person", ((10, 15 * _MINUTE), (100, _DAY)),
                                "Too many wrong codes.")
TOTP_WINDOW = 1  # steps either side of now
CHALLENGE_LIFETIME = timedelta(minutes=5)
MAX_CREDENTIAL = 64 * 1024  # characters of a passkey response posted by the page
EVENTS_KEPT = timedelta(days=365)
RP_NAME = "Ledgerlink"


@dataclass(frozen=True, slots=True)
class Proof:
    """A second factor that checked out: which kind, and for a recovery code how many are left."""

    method: str  # TOTP, PASSKEY or RECOVERY_CODE
    recovery_left: int | None = None


def relying_party(public_url: str) -> RelyingParty:
    """The WebAuthn relying party of the public URL: its host is the RP ID, its origin (scheme,
    host, port unless the default) the one origin a passkey answer may come from."""
    parts = urlsplit(public_url)
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    netloc = f"[{host}]" if ":" in host else host
    return RelyingParty(id=host, name=RP_NAME, origin=f"{parts.scheme}://{netloc}{port}")


async def record_event(deps: Deps, uow: UnitOfWork, person_id: str, kind: str, detail: str = "") -> None:
    """One entry of the person's security log (and one log line, without personal data)."""
    now = deps.clock.now()
    await uow.factors.add_event(SecurityEventRecord(id=new_id("sev"), person_id=person_id, at=now, kind=kind,
                                                    detail=detail), keep_after=now - EVENTS_KEPT)
    log.info("security_event", kind=kind, person_id=person_id)


def _compact(code: str) -> str:
    return "".join(code.split()).replace("-", "")


def kind_of(code: str, passkey: str) -> str:
    """Which factor the person offered; refuses (uncounted) what cannot be any of them."""
    if passkey:
        return PASSKEY
    compact = _compact(code)
    if not compact:
        raise FactorRefused("Use your passkey, or type the code from your authenticator app or a "
                            "recovery code.", code="second_factor_missing")
    if compact.isascii() and compact.isdigit():
        if len(compact) != 6:
            raise FactorRefused(f"A code from an authenticator app has 6 digits; that one has "
                                f"{min(len(compact), 99)}.", code="code_format")
        return TOTP
    if recovery.normalise(code) is None:
        raise FactorRefused("That is neither a 6-digit code from your authenticator app nor a recovery "
                            "code (12 letters and digits, like 4f7k-x2mq-9hbd).", code="code_format")
    return RECOVERY_CODE


class Verifier:
    def __init__(self, deps: Deps, *, totp: TotpCodes, passkeys: Passkeys) -> None:
        self._deps = deps
        self._totp = totp
        self._passkeys = passkeys
        self._dummy_hash: str | None = None

    @property
    def relying_party(self) -> RelyingParty:
        return relying_party(self._deps.public_url)

    # ----------------------------------------------------------------------- challenges

    async def store_challenge(self, person_id: str, *, owner: str, purpose: str, challenge: bytes) -> None:
        deps = self._deps
        async with deps.uow() as uow:
            await uow.sign_in_steps.put_challenge(ChallengeRecord(
                owner=owner, purpose=purpose, person_id=person_id, challenge=challenge,
                expires_at=deps.clock.now() + CHALLENGE_LIFETIME))
            await uow.commit()

    async def take_challenge(self, person_id: str, *, owner: str, purpose: str) -> bytes:
        """The challenge stored for this owner and purpose, gone once read (used or not)."""
        async with self._deps.uow() as uow:
            found = await uow.sign_in_steps.take_challenge(owner, purpose)
            await uow.commit()
        if found is None or found.expires_at <= self._deps.clock.now() or found.person_id != person_id:
            raise FactorRefused("That passkey request has expired. Please try again.", code="passkey_expired")
        return found.challenge

    async def assertion_options(self, person_id: str, *, owner: str, purpose: str) -> str:
        """Options for `navigator.credentials.get` with the person's passkeys; the challenge is
        kept for `owner` (the session or pending sign-in) and `purpose`."""
        async with self._deps.uow(readonly=True) as uow:
            keys = await uow.factors.passkeys(person_id)
        if not keys:
            raise FactorRefused("There is no passkey on this account.", code="no_passkey")
        allow = [(k.credential_id, tuple(t for t in k.transports.split(",") if t)) for k in keys]
        options, challenge = self._passkeys.authentication_options(self.relying_party, allow=allow)
        await self.store_challenge(person_id, owner=owner, purpose=purpose, challenge=challenge)
        return options

    # ----------------------------------------------------------------------- the check

    async def check(self, person_id: str, *, owner: str, purpose: str, code: str = "",
                    passkey: str = "") -> Proof:
        """Check the factor offered (`passkey`: the page's JSON answer; else `code`). Raises
        `FactorRefused` (with words for the person) or `TooManyRequests`."""
        kind = kind_of(code, passkey)
        deps = self._deps
        await throttle.check(deps.limiter, SECOND_FACTOR_PERSON, person_id)
        try:
            if kind == PASSKEY:
                proof = await self._passkey(person_id, owner=owner, purpose=purpose, answer=passkey)
            elif kind == TOTP:
                proof = await self._code(person_id, _compact(code))
            else:
                proof = await self._recovery(person_id, code)
        except FactorRefused:
            async with deps.uow() as uow:
                await record_event(deps, uow, person_id,
                                   "second_step_failed" if purpose == SIGN_IN else "confirm_failed", kind)
                await uow.commit()
            raise
        if deps.limiter is not None:
            await deps.limiter.clear(SECOND_FACTOR_PERSON, person_id)
        return proof

    def code_step(self, secret: str, code: str) -> int | None:
        """The time step of `code` for `secret` around now (also for setting up an app)."""
        if not (code.isascii() and code.isdigit() and len(code) == 6):
            return None
        return self._totp.matching_step(secret, code, at=self._deps.clock.now(), window=TOTP_WINDOW)

    async def _code(self, person_id: str, code: str) -> Proof:
        deps = self._deps
        async with deps.uow(readonly=True) as uow:
            record = await uow.factors.totp(person_id)
        if record is None or record.confirmed_at is None:
            raise FactorRefused("There is no authenticator app on this account. Use your passkey or a "
                                "recovery code.", code="no_totp")
        secret = await open_totp_secret(deps.vault, Grant.for_component(person_id, "sign_in"), record)
        step = self.code_step(secret, code)
        if step is None:
            raise FactorRefused("That code is not right. Type the code your app shows now (and check that "
                                "your phone's clock is right).", code="totp_wrong")
        reused = FactorRefused("That code was used already. Wait for the next one (a new code comes every "
                               "30 seconds).", code="totp_reused")
        if step <= record.last_step:
            raise reused
        async with deps.uow() as uow:
            accepted = await uow.factors.accept_totp_step(record.id, step=step, at=deps.clock.now())
            await uow.commit()
        if not accepted:  # another request took this step (or a later one) meanwhile
            raise reused
        return Proof(TOTP)

    async def _recovery(self, person_id: str, typed: str) -> Proof:
        deps = self._deps
        code = recovery.normalise(typed)
        assert code is not None  # kind_of checked it
        async with deps.uow(readonly=True) as uow:
            candidates = await uow.factors.recovery_codes(person_id, recovery.split(code)[0])
        if not candidates:  # no row to test: cost one hash anyway, so timing says nothing
            await asyncio.to_thread(deps.hasher.verify, await self._dummy(), recovery.split(code)[1])
        row = await recovery.verify(deps.hasher, candidates, code)
        wrong = FactorRefused("That recovery code is not right, or it was used already.",
                              code="recovery_code_wrong")
        if row is None:
            raise wrong
        async with deps.uow() as uow:
            used = await uow.factors.use_recovery_code(row.id, deps.clock.now())
            left = await uow.factors.recovery_codes_left(person_id)
            if used:
                await record_event(deps, uow, person_id, "recovery_code_used", str(left))
            await uow.commit()
        if not used:
            raise wrong
        return Proof(RECOVERY_CODE, recovery_left=left)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(self._deps.hasher.hash, secrets.token_urlsafe(8))
        return self._dummy_hash

    async def _passkey(self, person_id: str, *, owner: str, purpose: str, answer: str) -> Proof:
        deps = self._deps
        if len(answer) > MAX_CREDENTIAL:
            raise FactorRefused("That passkey answer is too large to be one.", code="passkey_refused")
        challenge = await self.take_challenge(person_id, owner=owner, purpose=purpose)
        credential_id = self._passkeys.credential_id(answer)
        async with deps.uow(readonly=True) as uow:
            key = await uow.factors.passkey_by_credential(credential_id)
        if key is None or key.person_id != person_id:
            raise FactorRefused("That passkey is not one of this account's passkeys.", code="passkey_unknown")
        assertion = self._passkeys.verify_authentication(self.relying_party, answer, challenge=challenge,
                                                         public_key=key.public_key, sign_count=key.sign_count)
        async with deps.uow() as uow:
            stored = await uow.factors.use_passkey(key.id, old_count=key.sign_count,
                                                   new_count=assertion.new_sign_count, at=deps.clock.now())
            await uow.commit()
        if not stored:
            raise FactorRefused("That passkey was used by another request at the same moment. Please try "
                                "again.", code="passkey_race")
        return Proof(PASSKEY)
