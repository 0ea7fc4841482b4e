"""Auth's vocabulary: sign-in sessions, second factors (TOTP, passkeys, recovery codes), the
half-state between the password and the second step, and the libraries behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ledgerlink.domain.errors import DomainError


@dataclass(slots=True)
class SessionRecord:
    id: str  # hex SHA-256 of the cookie's random token: the database holds no usable session
    person_id: str
    created_at: datetime
    expires_at: datetime  # absolute lifetime; nothing extends it
    confirmed_at: datetime  # when the person last proved it is them (sign-in, sign-up, confirm)
    confirmed_with: str = "password"  # "password" or "second_factor": what proved it


class SessionRepository(Protocol):
    async def add(self, session: SessionRecord) -> None: ...
    async def get(self, session_id: str) -> SessionRecord | None: ...
    async def confirm(self, session_id: str, at: datetime, *, method: str) -> None: ...
    async def end(self, session_id: str) -> bool:
        """Delete the session; False when it was already gone."""
        ...
    async def end_all(self, person_id: str) -> int:
        """Delete every session of the person; returns how many."""
        ...
    async def end_expired(self, person_id: str, now: datetime) -> int: ...


# --------------------------------------------------------------------------- second factor (ADR 0021)

TOTP = "totp"  # an authenticator app (RFC 6238)
PASSKEY = "passkey"  # WebAuthn


@dataclass(slots=True)
class TotpRecord:
    """A person's authenticator app. One per person; `confirmed_at` None while it is being
    set up (the person has not typed a code from it yet), and then it is no second factor."""

    id: str
    person_id: str
    sealed_secret: bytes  # the RFC 6238 key, sealed to the row (services/access/factors.py)
    created_at: datetime
    confirmed_at: datetime | None
    last_step: int  # the last accepted time step: no code is accepted twice, nor an older one
    last_used_at: datetime | None = None


@dataclass(slots=True)
class PasskeyRecord:
    id: str
    person_id: str
    credential_id: bytes  # the authenticator's id for the credential (public, not a secret)
    public_key: bytes  # COSE key
    sign_count: int
    name: str
    transports: str  # comma-separated hints for the browser ("internal,hybrid")
    created_at: datetime
    last_used_at: datetime | None = None


@dataclass(slots=True)
class RecoveryCodeRecord:
    """One single-use recovery code: a clear `selector` (its first 4 characters, to find the
    row) and an Argon2id hash of the other 8 (NIST 800-63B: salted, slow, throttled)."""

    id: str
    person_id: str
    selector: str
    code_hash: str
    created_at: datetime
    used_at: datetime | None = None


@dataclass(slots=True)
class PendingSignInRecord:
    """The half-state between a right password and the second step: no session, no data."""

    id: str  # hex SHA-256 of the cookie's token
    person_id: str
    created_at: datetime
    expires_at: datetime


@dataclass(slots=True)
class ChallengeRecord:
    """A WebAuthn challenge, bound to the session (or pending sign-in) that asked for it and
    to what it is for; taken once."""

    owner: str  # the session's or the pending sign-in's id
    purpose: str  # "register", "sign_in" or "confirm"
    person_id: str
    challenge: bytes
    expires_at: datetime


@dataclass(slots=True)
class SecurityEventRecord:
    """What the person sees in Security settings: factors added and removed, recovery codes
    made and used, failed second steps. No secret, no passkey name, no address."""

    id: str
    person_id: str
    at: datetime
    kind: str
    detail: str = ""


class FactorRepository(Protocol):
    async def kinds(self, person_id: str) -> frozenset[str]:
        """The person's working second factors: TOTP (confirmed) and/or PASSKEY (at least one)."""
        ...
    async def totp(self, person_id: str) -> TotpRecord | None: ...
    async def put_totp(self, record: TotpRecord) -> None:
        """Store the person's authenticator app, replacing one not confirmed yet."""
        ...
    async def confirm_totp(self, factor_id: str, *, step: int, at: datetime) -> bool:
        """Confirm a pending authenticator app; False when it was confirmed or removed meanwhile."""
        ...
    async def accept_totp_step(self, factor_id: str, *, step: int, at: datetime) -> bool:
        """Record `step` as used, only if it is after the last one (compare-and-set)."""
        ...
    async def remove_totp(self, person_id: str) -> bool: ...
    async def passkeys(self, person_id: str) -> list[PasskeyRecord]: ...
    async def passkey_by_credential(self, credential_id: bytes) -> PasskeyRecord | None: ...
    async def add_passkey(self, record: PasskeyRecord) -> None: ...
    async def use_passkey(self, passkey_id: str, *, old_count: int, new_count: int, at: datetime) -> bool:
        """Store the new signature count, only if it is still `old_count` (compare-and-set)."""
        ...
    async def remove_passkey(self, person_id: str, passkey_id: str) -> bool: ...
    async def replace_recovery_codes(self, person_id: str, codes: list[RecoveryCodeRecord]) -> None: ...
    async def recovery_codes(self, person_id: str, selector: str) -> list[RecoveryCodeRecord]:
        """The unused codes of the person with this selector."""
        ...
    async def use_recovery_code(self, code_id: str, at: datetime) -> bool:
        """Mark the code used, only if it was unused (compare-and-set)."""
        ...
    async def recovery_codes_left(self, person_id: str) -> int: ...
    async def remove_recovery_codes(self, person_id: str) -> int: ...
    async def add_event(self, event: SecurityEventRecord, *, keep_after: datetime) -> None:
        """Record an event, dropping the person's events older than `keep_after`."""
        ...
    async def events(self, person_id: str, *, limit: int) -> list[SecurityEventRecord]: ...


class SignInStepRepository(Protocol):
    async def add_pending(self, record: PendingSignInRecord) -> None: ...
    async def pending(self, pending_id: str) -> PendingSignInRecord | None: ...
    async def end_pending(self, pending_id: str) -> bool: ...
    async def end_expired_pending(self, person_id: str, now: datetime) -> int: ...
    async def put_challenge(self, record: ChallengeRecord) -> None:
        """Store a challenge, replacing the owner's earlier one for the same purpose."""
        ...
    async def take_challenge(self, owner: str, purpose: str) -> ChallengeRecord | None:
        """The owner's challenge for `purpose`, deleted as it is read: None when there is none
        or another request took it first."""
        ...


# --------------------------------------------------------------------------- the libraries behind them


class FactorRefused(DomainError):
    """A second factor did not check out (wrong or reused code, passkey that does not verify)."""

    code = "second_factor_refused"
    status = 401


@dataclass(frozen=True, slots=True)
class NewPasskey:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PasskeyAssertion:
    credential_id: bytes
    new_sign_count: int


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for: `id` is the host of the public URL, `origin` its origin."""

    id: str
    name: str
    origin: str


class TotpCodes(Protocol):
    """RFC 6238 (pyotp in adapters/auth): 6 digits, 30-second steps, SHA-1 (what every app reads)."""

    def new_secret(self) -> str: ...
    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str: ...
    def matching_step(self, secret: str, code: str, *, at: datetime, window: int) -> int | None:
        """The time step within `window` steps of `at` whose code is `code`, or None."""
        ...


class QrCodes(Protocol):
    def svg(self, data: str, *, title: str) -> str:
        """`data` as a QR code: an inline SVG element (no external fetch)."""
        ...


class Passkeys(Protocol):
    """WebAuthn ceremonies (py_webauthn in adapters/auth). Options are the JSON the browser's
    `navigator.credentials` API takes (base64url bytes); credentials, the JSON the page posts
    back. Every refusal is `FactorRefused`."""

    def registration_options(self, rp: RelyingParty, *, user_id: bytes, user_name: str,
                             display_name: str, exclude: list[bytes]) -> tuple[str, bytes]:
        """The options JSON and its challenge."""
        ...
    def verify_registration(self, rp: RelyingParty, credential: str, *, challenge: bytes) -> NewPasskey: ...
    def authentication_options(self, rp: RelyingParty, *,
                               allow: list[tuple[bytes, tuple[str, ...]]]) -> tuple[str, bytes]: ...
    def credential_id(self, credential: str) -> bytes:
        """Which credential an authentication response names (before it is verified)."""
        ...
    def verify_authentication(self, rp: RelyingParty, credential: str, *, challenge: bytes,
                              public_key: bytes, sign_count: int) -> PasskeyAssertion: ...
