"""Second factors: setting up an authenticator app (TOTP) or passkeys, removing them, recovery
codes, and what the Security settings page shows (ADR 0021).

Adding or removing a factor and making new recovery codes are sensitive: they need the person to
have proved it is them within the last 5 minutes (`sessions.recently_confirmed`: the password
while they have no second factor, the second factor once they do), else `ConfirmRequired`.
Setting up a factor proves possession of it, so the session counts as confirmed with the second
factor from then on. The first factor comes with ten recovery codes (shown once); removing the
last one removes the codes too, and sign-in is the password alone again.

`SecondFactors` is built once by the composition root with the libraries behind
`services/auth/ports.py` (pyotp, segno, py_webauthn in `adapters/auth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ledgerlink.domain.errors import Conflict, DomainError, Forbidden, NotFound
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.text import display_line
from ledgerlink.services.access.factors import open_totp_secret, seal_totp_secret
from ledgerlink.services.auth import recovery, sessions
from ledgerlink.services.auth.ports import (
    PASSKEY,
    TOTP,
    FactorRefused,
    PasskeyRecord,
    Passkeys,
    QrCodes,
    RecoveryCodeRecord,
    SecurityEventRecord,
    TotpCodes,
    TotpRecord,
)
from ledgerlink.services.auth.verification import (
    MAX_CREDENTIAL,
    REGISTER,
    SECOND_FACTOR_PERSON,
    Verifier,
    record_event,
)
from ledgerlink.services.kernel import throttle
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.uow import UnitOfWork

__all__ = ["ConfirmRequired", "SecondFactors", "SecurityOverview", "TotpSetup"]

SETUP_WINDOW = timedelta(minutes=10)  # a new app's key waits this long for its first code
ISSUER = "Ledgerlink"
NAME_LENGTH = 64
EVENTS_SHOWN = 20


class ConfirmRequired(Forbidden):
    code = "confirm_required"


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """What the set-up page shows: the key in groups of four (to type) and as a QR code."""

    secret_groups: str
    qr_svg: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SecurityOverview:
    totp: TotpRecord | None  # a working authenticator app (one being set up is not listed)
    passkeys: list[PasskeyRecord]
    recovery_left: int
    events: list[SecurityEventRecord]

    @property
    def second_factor(self) -> bool:
        return self.totp is not None or bool(self.passkeys)


def _groups(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


class SecondFactors:
    def __init__(self, deps: Deps, *, totp: TotpCodes, qr: QrCodes, passkeys: Passkeys) -> None:
        self.deps = deps
        self.verifier = Verifier(deps, totp=totp, passkeys=passkeys)
        self._totp = totp
        self._qr = qr
        self._passkeys = passkeys

    def _require_recent(self, session: sessions.Session) -> None:
        if not sessions.recently_confirmed(self.deps, session):
            words = "your passkey or a code" if session.second_factor else "your password"
            raise ConfirmRequired(f"For your security, confirm it is you with {words} first.")

    async def overview(self, person_id: str) -> SecurityOverview:
        async with self.deps.uow(readonly=True) as uow:
            totp = await uow.factors.totp(person_id)
            return SecurityOverview(
                totp=totp if totp is not None and totp.confirmed_at is not None else None,
                passkeys=await uow.factors.passkeys(person_id),
                recovery_left=await uow.factors.recovery_codes_left(person_id),
                events=await uow.factors.events(person_id, limit=EVENTS_SHOWN))

    # ----------------------------------------------------------------------- authenticator app

    async def totp_setup(self, session: sessions.Session) -> TotpSetup:
        """The key for a new authenticator app: the one being set up if it is recent (a reload
        shows the same QR code), else a new one, sealed. Not a factor until `confirm_totp`."""
        self._require_recent(session)
        deps, person = self.deps, session.person
        now = deps.clock.now()
        async with deps.uow() as uow:
            existing = await uow.factors.totp(person.id)
            if existing is not None and existing.confirmed_at is not None:
                raise Conflict("You already use an authenticator app. Remove it first to set up another "
                               "one.", code="totp_exists")
            if existing is not None and now - existing.created_at < SETUP_WINDOW:
                secret = await open_totp_secret(deps.vault, session.grant, existing)
                created = existing.created_at
            else:
                secret, created, factor_id = self._totp.new_secret(), now, new_id("tot")
                sealed = await seal_totp_secret(deps.vault, person_id=person.id, factor_id=factor_id,
                                                secret=secret)
                await uow.factors.put_totp(TotpRecord(id=factor_id, person_id=person.id, sealed_secret=sealed,
                                                      created_at=now, confirmed_at=None, last_step=-1))
                await uow.commit()
        uri = self._totp.provisioning_uri(secret, account=person.handle, issuer=ISSUER)
        return TotpSetup(secret_groups=_groups(secret), expires_at=created + SETUP_WINDOW,
                         qr_svg=self._qr.svg(uri, title="QR code for your authenticator app"))

    async def confirm_totp(self, session: sessions.Session, code: str) -> list[str] | None:
        """The first code from the new app turns it on. Returns the new recovery codes when it
        is the person's first factor."""
        self._require_recent(session)
        deps, person = self.deps, session.person
        now = deps.clock.now()
        async with deps.uow(readonly=True) as uow:
            record = await uow.factors.totp(person.id)
        if record is None or record.confirmed_at is not None or now - record.created_at >= SETUP_WINDOW:
            raise Conflict("This set-up has expired. Scan the new QR code and type its code.",
                           code="totp_setup_expired")
        await throttle.check(deps.limiter, SECOND_FACTOR_PERSON, person.id)
        secret = await open_totp_secret(deps.vault, session.grant, record)
        step = self.verifier.code_step(secret, "".join(code.split()))
        if step is None:
            raise FactorRefused("That code is not right. Type the 6 digits your app shows now for "
                                "Ledgerlink.", code="totp_wrong")
        codes, rows = await self._codes_if_first(session)
        async with deps.uow() as uow:
            if not await uow.factors.confirm_totp(record.id, step=step, at=now):
                raise Conflict("This set-up has expired. Please start again.", code="totp_setup_expired")
            stored = await self._enrolled(uow, session, "totp_added", rows)
            await uow.commit()
        if deps.limiter is not None:
            await deps.limiter.clear(SECOND_FACTOR_PERSON, person.id)
        return codes if stored else None

    async def remove_totp(self, session: sessions.Session) -> None:
        self._require_recent(session)
        async with self.deps.uow() as uow:
            if not await uow.factors.remove_totp(session.person.id):
                raise NotFound("there is no authenticator app on this account")
            await self._removed(uow, session, "totp_removed")
            await uow.commit()

    # ----------------------------------------------------------------------- passkeys

    async def passkey_options(self, session: sessions.Session) -> str:
        """Options for `navigator.credentials.create`; the challenge is kept for this session."""
        self._require_recent(session)
        person = session.person
        async with self.deps.uow(readonly=True) as uow:
            existing = [k.credential_id for k in await uow.factors.passkeys(person.id)]
        options, challenge = self._passkeys.registration_options(
            self.verifier.relying_party, user_id=person.id.encode(), user_name=person.handle,
            display_name=person.display_name or person.handle, exclude=existing)
        await self.verifier.store_challenge(person.id, owner=session.id, purpose=REGISTER,
                                            challenge=challenge)
        return options

    async def add_passkey(self, session: sessions.Session, *, credential: str, name: str) -> list[str] | None:
        """Register the passkey the browser made (`credential`: its JSON answer). Returns the new
        recovery codes when it is the person's first factor."""
        self._require_recent(session)
        deps, person = self.deps, session.person
        if not credential:
            raise FactorRefused("Your browser did not make a passkey. Passkeys need JavaScript and a "
                                "browser or device that supports them.", code="passkey_missing")
        if len(credential) > MAX_CREDENTIAL:
            raise FactorRefused("That passkey answer is too large to be one.", code="passkey_refused")
        label = self._name(name)
        challenge = await self.verifier.take_challenge(person.id, owner=session.id, purpose=REGISTER)
        made = self._passkeys.verify_registration(self.verifier.relying_party, credential,
                                                  challenge=challenge)
        codes, rows = await self._codes_if_first(session)
        now = deps.clock.now()
        async with deps.uow() as uow:
            if await uow.factors.passkey_by_credential(made.credential_id) is not None:
                raise Conflict("That passkey is registered already.", code="passkey_exists")
            await uow.factors.add_passkey(PasskeyRecord(
                id=new_id("pky"), person_id=person.id, credential_id=made.credential_id,
                public_key=made.public_key, sign_count=made.sign_count, name=label,
                transports=",".join(made.transports), created_at=now))
            stored = await self._enrolled(uow, session, "passkey_added", rows)
            await uow.commit()
        return codes if stored else None

    @staticmethod
    def _name(name: str) -> str:
        try:
            label = display_line(name, "name")
        except DomainError:
            raise FactorRefused("That name has a character that cannot be shown. Please choose "
                                "another one.", code="passkey_name") from None
        if len(label) > NAME_LENGTH:
            raise FactorRefused(f"A passkey's name has at most {NAME_LENGTH} characters.",
                                code="passkey_name")
        return label or "Passkey"

    async def remove_passkey(self, session: sessions.Session, passkey_id: str) -> None:
        self._require_recent(session)
        async with self.deps.uow() as uow:
            if not await uow.factors.remove_passkey(session.person.id, passkey_id):
                raise NotFound("passkey not found")
            await self._removed(uow, session, "passkey_removed")
            await uow.commit()

    # ----------------------------------------------------------------------- recovery codes

    async def regenerate_recovery_codes(self, session: sessions.Session) -> list[str]:
        """Ten new codes; the old ones stop working."""
        self._require_recent(session)
        if not session.second_factor:
            raise Conflict("Recovery codes come with a passkey or an authenticator app: set one up "
                           "first.", code="no_second_factor")
        deps = self.deps
        codes, rows = await recovery.make_codes(deps.hasher, person_id=session.person.id, at=deps.clock.now())
        async with deps.uow() as uow:
            await uow.factors.replace_recovery_codes(session.person.id, rows)
            await record_event(deps, uow, session.person.id, "recovery_codes_created")
            await uow.commit()
        return codes

    # ----------------------------------------------------------------------- shared steps

    async def _codes_if_first(self, session: sessions.Session) -> tuple[list[str] | None,
                                                                     list[RecoveryCodeRecord]]:
        """New recovery codes (hashed before the writing unit of work: hashing is slow) when the
        person has no factor yet."""
        async with self.deps.uow(readonly=True) as uow:
            if await uow.factors.kinds(session.person.id):
                return None, []
        codes, rows = await recovery.make_codes(self.deps.hasher, person_id=session.person.id,
                                                at=self.deps.clock.now())
        return codes, rows

    async def _enrolled(self, uow: UnitOfWork, session: sessions.Session, kind: str,
                        rows: list[RecoveryCodeRecord]) -> bool:
        """After a factor is stored: recovery codes if it is the first (True: they were stored),
        the log, and this session counts as confirmed with a second factor (setting it up
        proved it)."""
        person_id = session.person.id
        stored = bool(rows) and not await self._had_factor(uow, person_id, kind)
        if stored:
            await uow.factors.replace_recovery_codes(person_id, rows)
            await record_event(self.deps, uow, person_id, "recovery_codes_created")
        await record_event(self.deps, uow, person_id, kind)
        await uow.sessions.confirm(session.id, self.deps.clock.now(), method=sessions.SECOND_FACTOR)
        return stored

    @staticmethod
    async def _had_factor(uow: UnitOfWork, person_id: str, added: str) -> bool:
        """Whether the person had a factor before the one just added (another tab may have
        added one since the page was read)."""
        kinds = await uow.factors.kinds(person_id)
        if added == "passkey_added":
            return TOTP in kinds or len(await uow.factors.passkeys(person_id)) > 1
        return PASSKEY in kinds

    async def _removed(self, uow: UnitOfWork, session: sessions.Session, kind: str) -> None:
        person_id = session.person.id
        await record_event(self.deps, uow, person_id, kind)
        if not await uow.factors.kinds(person_id):  # the last one: back to the password alone
            await uow.factors.remove_recovery_codes(person_id)
            await record_event(self.deps, uow, person_id, "second_factor_off")
