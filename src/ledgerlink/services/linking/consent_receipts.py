"""Consent receipts: what a person agreed to when they linked a bank, signed by the platform.

A receipt is a compact JWS (EdDSA, Ed25519) that anyone can check offline against the
platform's published key set (`/.well-known/jwks.json`). The claims schema is documented in
`docs/privacy.md` ("Consent receipts"); `build_claims` is the one place that writes it and
`verify_claims` the one place that reads it back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from babel.lists import format_list

from ledgerlink.domain import locale_text
from ledgerlink.domain.banking import AccountView
from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.ids import new_id
from ledgerlink.domain.privacy import PURPOSE_DESCRIPTIONS, Grant, Purpose, never_words, scope_words
from ledgerlink.domain.zones import tz
from ledgerlink.services import access
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.kernel.uow import UnitOfWork
from ledgerlink.services.linking.ports import LinkRecord, ReceiptSigner
from ledgerlink.services.messaging.messenger import post_text

__all__ = [
    "RECEIPT_VERSION",
    "USES_PROHIBITED",
    "Receipt",
    "ReceiptBadSignature",
    "ReceiptCheck",
    "ReceiptExpired",
    "ReceiptInvalid",
    "ReceiptMalformed",
    "ReceiptNotYours",
    "ReceiptUnknownKey",
    "build_claims",
    "chat_text",
    "check",
    "describe",
    "issue",
    "purposes_allowed",
    "read",
    "verify",
    "verify_claims",
]

log = structlog.get_logger(__name__)

RECEIPT_VERSION = 1
USES_PROHIBITED = ("advertising", "profiling", "sale")


# --------------------------------------------------------------------------- errors


class ReceiptInvalid(DomainError):
    code = "receipt_invalid"
    status = 422


class ReceiptMalformed(ReceiptInvalid):
    """Not a compact JWS, not a ledgerlink consent receipt, or claims of the wrong shape."""

    code = "receipt_malformed"


class ReceiptBadSignature(ReceiptInvalid):
    code = "receipt_bad_signature"


class ReceiptUnknownKey(ReceiptInvalid):
    code = "receipt_unknown_key"


class ReceiptExpired(ReceiptInvalid):
    """Correctly signed, but the consent it records has expired. Carries the claims, so
    the receipt can still be shown."""

    code = "receipt_expired"

    def __init__(self, detail: str, *, claims: Mapping[str, Any]) -> None:
        super().__init__(detail)
        self.claims = dict(claims)


class ReceiptNotYours(ReceiptInvalid):
    code = "receipt_not_yours"


# --------------------------------------------------------------------------- claims


def purposes_allowed() -> list[str]:
    """Every purpose the platform may read linked data for: the closed list, nothing else."""
    return [p.value for p in Purpose]


def _epoch(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("receipt times must be aware UTC instants")
    return int(at.timestamp())


def build_claims(
    *,
    receipt_id: str,
    issuer: str,
    link: LinkRecord,
    partner: PartnerRecord,
    accounts: Sequence[AccountView],
    issued_at: datetime,
) -> dict[str, Any]:
    """The receipt's claims (pure). Account numbers never appear: name, last 4 and type."""
    if link.expires_at is None:
        raise ValueError("a receipt needs the consent's expiry")
    return {
        "version": RECEIPT_VERSION,
        "jti": receipt_id,
        "iss": issuer.rstrip("/"),
        "sub": link.person_id,
        "iat": _epoch(issued_at),
        "exp": _epoch(link.expires_at),
        "link_id": link.id,
        "bank": {"id": partner.id, "name": partner.name, "consent_id": link.bank_consent_id},
        "accounts": [{"name": a.name, "last4": a.last4, "type": a.type.value} for a in accounts],
        "scopes": list(link.scopes),
        "purposes_allowed": purposes_allowed(),
        "uses_prohibited": list(USES_PROHIBITED),
    }


@dataclass(frozen=True, slots=True)
class ReceiptAccount:
    name: str
    last4: str
    type: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """A receipt's claims, checked for shape (not for signature: see `verify`)."""

    id: str
    version: int
    issuer: str
    person_id: str
    link_id: str
    bank_id: str
    bank_name: str
    bank_consent_id: str | None
    accounts: tuple[ReceiptAccount, ...]
    scopes: tuple[str, ...]
    purposes_allowed: tuple[str, ...]
    uses_prohibited: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime


def _str(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise ReceiptMalformed(f"the receipt has no valid {name!r} claim")
    return value


def _int(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReceiptMalformed(f"the receipt has no valid {name!r} claim")
    return value


def _strs(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReceiptMalformed(f"the receipt has no valid {name!r} claim")
    return tuple(value)


def verify_claims(claims: Mapping[str, Any], *, person_id: str | None = None) -> Receipt:
    """Read verified claims into a `Receipt`; with `person_id`, refuse someone else's."""
    bank = claims.get("bank")
    if not isinstance(bank, dict):
        raise ReceiptMalformed("the receipt has no valid 'bank' claim")
    raw_accounts = claims.get("accounts")
    if not isinstance(raw_accounts, list) or not all(isinstance(a, dict) for a in raw_accounts):
        raise ReceiptMalformed("the receipt has no valid 'accounts' claim")
    consent_id = bank.get("consent_id")
    receipt = Receipt(
        id=_str(claims, "jti"),
        version=_int(claims, "version"),
        issuer=_str(claims, "iss"),
        person_id=_str(claims, "sub"),
        link_id=_str(claims, "link_id"),
        bank_id=_str(bank, "id"),
        bank_name=_str(bank, "name"),
        bank_consent_id=consent_id if isinstance(consent_id, str) else None,
        accounts=tuple(
            ReceiptAccount(name=_str(a, "name"), last4=_str(a, "last4"), type=_str(a, "type"))
            for a in raw_accounts
        ),
        scopes=_strs(claims, "scopes"),
        purposes_allowed=_strs(claims, "purposes_allowed"),
        uses_prohibited=_strs(claims, "uses_prohibited"),
        issued_at=datetime.fromtimestamp(_int(claims, "iat"), UTC),
        expires_at=datetime.fromtimestamp(_int(claims, "exp"), UTC),
    )
    if receipt.version != RECEIPT_VERSION:
        raise ReceiptMalformed(f"receipt version {receipt.version} is not known to this verifier")
    if person_id is not None and receipt.person_id != person_id:
        raise ReceiptNotYours(
            f"this receipt belongs to someone else (person {receipt.person_id}), not to {person_id}"
        )
    return receipt


def verify(
    signer: ReceiptSigner,
    token: str,
    jwks: Mapping[str, Any],
    *,
    now: datetime,
    person_id: str | None = None,
) -> Receipt:
    """Signature, key, expiry (the signer), then shape and owner (here). Raises the
    specific `ReceiptInvalid`; a `ReceiptExpired` still carries the claims."""
    return verify_claims(signer.verify(token, jwks, now=now), person_id=person_id)


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe(receipt: Receipt) -> list[tuple[str, str]]:
    """The receipt in plain words, as (label, text) rows (CLI and web page)."""
    known = {p.value: PURPOSE_DESCRIPTIONS[p] for p in Purpose}
    purposes = [f"{known[p]} ({p})" if p in known else p for p in receipt.purposes_allowed]
    accounts = [f"{a.name} ••{a.last4} ({a.type})" for a in receipt.accounts]
    bank = f"{receipt.bank_name} ({receipt.bank_id})"
    if receipt.bank_consent_id:
        bank += f", bank consent {receipt.bank_consent_id}"
    return [
        ("Receipt", receipt.id),
        ("Issued by", receipt.issuer),
        ("Issued to", f"person {receipt.person_id}"),
        ("Bank", bank),
        ("Link", receipt.link_id),
        ("Accounts shared", "; ".join(accounts) or "none"),
        ("Data the bank shares", ", ".join(receipt.scopes) or "none"),
        ("Your data may be used only", "; ".join(purposes)),
        ("Your data is never used for", ", ".join(receipt.uses_prohibited)),
        ("Issued", _when(receipt.issued_at)),
        ("Consent valid until", _when(receipt.expires_at)),
    ]


# --------------------------------------------------------------------------- issuing


def _sentence_part(words: str) -> str:
    return words[:1].lower() + words[1:]


def chat_text(
    *,
    bank: str,
    accounts: int,
    scopes: Sequence[str],
    expires_at: datetime,
    zone: str | None,
    locale: str = locale_text.LOCALE,
) -> str:
    """The receipt's chat message in words (issue 13): what the bank shares and what the data
    is never used for from the consent pages' tables, the last valid day on the person's own
    calendar (their IANA zone; UTC before they chose one) in their locale."""
    shared = [_sentence_part(scope_words(s)) for s in scopes]
    # the scope sentences hold commas of their own, so the list is kept apart by semicolons
    shares = "; ".join(shared[:-1]) + ("; and " if len(shared) > 1 else "") + (shared[-1] if shared else "")
    never = format_list([_sentence_part(never_words(u)) for u in USES_PROHIBITED], style="or", locale=locale)
    until = locale_text.day(expires_at.astimezone(tz(zone or "UTC")).date(), locale=locale)
    what = f"{accounts} account{'' if accounts == 1 else 's'}"
    what += f" sharing {shares}" if shared else ", sharing nothing"
    return (
        f"Your consent receipt for {bank}: {what}. Valid until {until}. "
        f"Your data is never used for {never}. "
        "The receipt is signed by Ledgerlink, so you, or anyone you show it to, can check it."
    )


def receipt_links(receipt_id: str) -> list[dict[str, str]]:
    return [
        {"label": "View receipt", "href": f"/receipts/{receipt_id}"},
        {"label": "Download", "href": f"/receipts/{receipt_id}.jws"},
    ]


async def issue(
    deps: Deps,
    uow: UnitOfWork,
    link: LinkRecord,
    partner: PartnerRecord,
    accounts: Sequence[AccountView],
) -> str | None:
    """Sign, store and announce the receipt of a link just made, inside the caller's unit of
    work (a link is never active without its receipt). Returns the receipt id, or None when
    the platform was built without a receipt signer."""
    if deps.receipts_jws is None:
        log.warning("receipt_not_issued", link_id=link.id, reason="no_receipt_signer")
        return None
    now = deps.clock.now()
    receipt_id = new_id("rcp")
    claims = build_claims(
        receipt_id=receipt_id,
        issuer=deps.public_url,
        link=link,
        partner=partner,
        accounts=accounts,
        issued_at=now,
    )
    token = deps.receipts_jws.sign(claims)
    assert link.expires_at is not None  # build_claims refused otherwise
    await access.store_receipt(
        deps.vault,
        uow,
        receipt_id=receipt_id,
        person_id=link.person_id,
        link_id=link.id,
        issued_at=now,
        expires_at=link.expires_at,
        jws=token,
    )
    thread = await uow.threads.for_link(link.id)
    if thread is not None:
        person = await uow.persons.get(link.person_id)
        await post_text(
            deps,
            uow,
            thread,
            chat_text(
                bank=partner.name,
                accounts=len(accounts),
                scopes=link.scopes,
                expires_at=link.expires_at,
                zone=None if person is None else person.zone,
            ),
            tone="info",
            actions=receipt_links(receipt_id),
        )
    log.info("receipt_issued", receipt_id=receipt_id, link_id=link.id)
    return receipt_id


# --------------------------------------------------------------------------- reading


async def read(deps: Deps, grant: Grant, receipt_id: str, *, purpose: Purpose) -> access.ReceiptView:
    """The person's own receipt (audited); someone else's is NotFound, like a missing one."""
    async with deps.uow() as uow:
        view = await access.read_receipt(deps.vault, uow, grant, purpose, receipt_id, at=deps.clock.now())
        await uow.commit()
    return view


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    receipt: Receipt | None  # None when the claims cannot be trusted or read
    valid: bool  # signature good and consent not expired
    problem: str | None  # the ReceiptInvalid code when not valid


def check(deps: Deps, token: str, *, person_id: str | None = None) -> ReceiptCheck:
    """Verify a receipt against the platform's own published keys, as an outsider would.
    An expired receipt is still shown (its claims are signed), marked not valid; any other
    problem is reported without claims."""
    if deps.receipts_jws is None:
        raise ReceiptUnknownKey("this platform was built without a receipt signer")
    jwks = deps.signer.jwks()
    try:
        return ReceiptCheck(
            verify(deps.receipts_jws, token, jwks, now=deps.clock.now(), person_id=person_id), True, None
        )
    except ReceiptExpired as exc:
        return ReceiptCheck(verify_claims(exc.claims, person_id=person_id), False, exc.code)
    except ReceiptInvalid as exc:  # e.g. its signing key was retired from the key set
        return ReceiptCheck(None, False, exc.code)
