"""A shop link's consent receipt read back (`/link/shop/{id}/receipt.jws`, written by
`merchant_link.receipt_claims`): the one place that reads its claims, as `consent_receipts`
is for a bank's. Signature, key and expiry are the signer's (`adapters/crypto/jws`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledgerlink.domain.privacy import PURPOSE_DESCRIPTIONS, Purpose
from ledgerlink.services.linking.consent_receipts import RECEIPT_VERSION, ReceiptMalformed, ReceiptNotYours

__all__ = ["SHOP_RECEIPT_KIND", "ShopReceipt", "describe_shop", "is_shop_receipt", "verify_shop_claims"]

SHOP_RECEIPT_KIND = "merchant_link"


@dataclass(frozen=True, slots=True)
class ShopReceipt:
    id: str
    issuer: str
    person_id: str
    consent_id: str
    shop_slug: str
    shop_name: str
    scopes: tuple[str, ...]
    purposes_allowed: tuple[str, ...]
    uses_prohibited: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime


def is_shop_receipt(claims: Mapping[str, Any]) -> bool:
    return claims.get("kind") == SHOP_RECEIPT_KIND


def _str(claims: Mapping[str, Any], name: str, *, where: str = "") -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise ReceiptMalformed(f"the shop receipt has no valid {where + name!r} claim")
    return value


def _int(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ReceiptMalformed(f"the shop receipt has no valid {name!r} claim")
    return value


def _strs(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReceiptMalformed(f"the shop receipt has no valid {name!r} claim")
    return tuple(value)


def verify_shop_claims(claims: Mapping[str, Any], *, person_id: str | None = None) -> ShopReceipt:
    """Read a shop receipt's verified claims; with `person_id`, refuse someone else's."""
    if not is_shop_receipt(claims):
        raise ReceiptMalformed("this is not a shop link's consent receipt")
    version = _int(claims, "version")
    if version != RECEIPT_VERSION:
        raise ReceiptMalformed(f"receipt version {version} is not known to this verifier")
    shop = claims.get("merchant")
    if not isinstance(shop, dict):
        raise ReceiptMalformed("the shop receipt has no valid 'merchant' claim")
    receipt = ShopReceipt(
        id=_str(claims, "jti"),
        issuer=_str(claims, "iss"),
        person_id=_str(claims, "sub"),
        consent_id=_str(claims, "consent_id"),
        shop_slug=_str(shop, "slug", where="merchant."),
        shop_name=_str(shop, "name", where="merchant."),
        scopes=_strs(claims, "scopes"),
        purposes_allowed=_strs(claims, "purposes_allowed"),
        uses_prohibited=_strs(claims, "uses_prohibited"),
        issued_at=datetime.fromtimestamp(_int(claims, "iat"), UTC),
        expires_at=datetime.fromtimestamp(_int(claims, "exp"), UTC),
    )
    if person_id is not None and receipt.person_id != person_id:
        raise ReceiptNotYours(
            f"this receipt belongs to someone else (person {receipt.person_id}), not to {person_id}"
        )
    return receipt


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def describe_shop(receipt: ShopReceipt) -> list[tuple[str, str]]:
    """The receipt in plain words, as (label, text) rows, like `consent_receipts.describe`."""
    known = {p.value: PURPOSE_DESCRIPTIONS[p] for p in Purpose}
    purposes = [f"{known[p]} ({p})" if p in known else p for p in receipt.purposes_allowed]
    return [
        ("Receipt", receipt.id),
        ("Issued by", receipt.issuer),
        ("Issued to", f"person {receipt.person_id}"),
        ("Shop", f"{receipt.shop_name} ({receipt.shop_slug})"),
        ("Shop link", receipt.consent_id),
        ("Data the shop shares", ", ".join(receipt.scopes) or "none"),
        ("Your data may be used only", "; ".join(purposes) or "none"),
        ("Your data is never used for", ", ".join(receipt.uses_prohibited) or "none"),
        ("Issued", _when(receipt.issued_at)),
        ("Consent valid until", _when(receipt.expires_at)),
    ]
