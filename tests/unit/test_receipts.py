"""Consent receipts: the claims keep the promise, and the signature catches every change."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledgerlink.adapters.crypto.jws import RECEIPT_TYP, JoseReceiptSigner, unverified_claims, verify_receipt
from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.domain.banking import AccountType, AccountView
from ledgerlink.domain.privacy import Purpose
from ledgerlink.services.kernel.ports import PartnerRecord
from ledgerlink.services.linking import consent_receipts
from ledgerlink.services.linking.ports import LinkRecord

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=90)


def _claims(*, expires: datetime = EXPIRES) -> dict[str, Any]:
    link = LinkRecord(
        id="lnk_1",
        person_id="per_1",
        partner_id="sandbox-bank",
        status="active",
        scopes=["balances", "transactions", "alerts"],
        state=None,
        sealed_secrets=None,
        bank_consent_id="cns_1",
        created_at=NOW,
        updated_at=NOW,
        expires_at=expires,
    )
    partner = PartnerRecord(
        id="sandbox-bank",
        slug="sandbox",
        name="Sandbox Bank",
        kind="bank",
        webhook_secrets=[],
        created_at=NOW,
    )
    account = AccountView(
        id="acc_1",
        link_id="lnk_1",
        partner_id="sandbox-bank",
        name="Everyday Checking",
        type=AccountType.CHECKING,
        currency="USD",
        last4="4821",
        balance=None,
    )
    return consent_receipts.build_claims(
        receipt_id="rcp_1",
        issuer="https://ledgerlink.example/",
        link=link,
        partner=partner,
        accounts=[account],
        issued_at=NOW,
    )


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return SigningKeys(tmp_path / "signing.key")


@pytest.fixture
def signer(keys: SigningKeys) -> JoseReceiptSigner:
    return JoseReceiptSigner(keys)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_claims_forbid_advertising_profiling_and_sale_and_allow_no_such_purpose() -> None:
    claims = _claims()
    assert claims["uses_prohibited"] == ["advertising", "profiling", "sale"]
    assert claims["purposes_allowed"] == [p.value for p in Purpose]
    for purpose in claims["purposes_allowed"]:
        for word in ("advert", "marketing", "profil", "sale", "sell", "targeting"):
            assert word not in purpose


def test_the_claims_name_accounts_by_name_last4_and_type_only() -> None:
    claims = _claims()
    assert claims["accounts"] == [{"name": "Everyday Checking", "last4": "4821", "type": "checking"}]
    assert claims["iss"] == "https://ledgerlink.example"
    assert (claims["sub"], claims["link_id"], claims["jti"]) == ("per_1", "lnk_1", "rcp_1")
    assert claims["iat"] == int(NOW.timestamp()) and claims["exp"] == int(EXPIRES.timestamp())
    assert claims["bank"] == {"id": "sandbox-bank", "name": "Sandbox Bank", "consent_id": "cns_1"}


def test_a_signed_receipt_verifies_with_the_published_key_set(
    signer: JoseReceiptSigner, keys: SigningKeys
) -> None:
    token = signer.sign(_claims())
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": keys.key_id, "typ": RECEIPT_TYP}
    receipt = consent_receipts.verify(signer, token, keys.jwks(), now=NOW, person_id="per_1")
    assert receipt.id == "rcp_1" and receipt.expires_at == EXPIRES
    assert receipt.accounts[0].last4 == "4821"
    words = dict(consent_receipts.describe(receipt))
    assert words["Your data is never used for"] == "advertising, profiling, sale"
    assert "to send you an update in your messenger" in words["Your data may be used only"]


def test_a_tampered_payload_has_a_bad_signature(signer: JoseReceiptSigner, keys: SigningKeys) -> None:
    header, _, signature = signer.sign(_claims()).split(".")
    forged = dict(_claims(), uses_prohibited=[])
    payload = _b64(json.dumps(forged, separators=(",", ":"), sort_keys=True).encode())
    with pytest.raises(consent_receipts.ReceiptBadSignature) as info:
        verify_receipt(f"{header}.{payload}.{signature}", keys.jwks(), now=NOW)
    assert info.value.code == "receipt_bad_signature"


def test_a_receipt_signed_by_another_key_is_an_unknown_key(signer: JoseReceiptSigner, tmp_path: Path) -> None:
    other = SigningKeys(tmp_path / "other.key")
    with pytest.raises(consent_receipts.ReceiptUnknownKey) as info:
        verify_receipt(signer.sign(_claims()), other.jwks(), now=NOW)
    assert info.value.code == "receipt_unknown_key"


def test_another_key_under_the_same_kid_is_a_bad_signature(
    signer: JoseReceiptSigner, keys: SigningKeys, tmp_path: Path
) -> None:
    impostor = SigningKeys(tmp_path / "other.key").jwks()
    impostor["keys"][0]["kid"] = keys.key_id
    with pytest.raises(consent_receipts.ReceiptBadSignature):
        verify_receipt(signer.sign(_claims()), impostor, now=NOW)


def test_an_expired_receipt_is_refused_but_still_readable(
    signer: JoseReceiptSigner, keys: SigningKeys
) -> None:
    token = signer.sign(_claims(expires=NOW + timedelta(days=1)))
    with pytest.raises(consent_receipts.ReceiptExpired) as info:
        verify_receipt(token, keys.jwks(), now=NOW + timedelta(days=1))
    assert info.value.code == "receipt_expired"
    assert consent_receipts.verify_claims(info.value.claims).id == "rcp_1"


def test_old_receipts_verify_after_the_signing_key_rotates(
    signer: JoseReceiptSigner, keys: SigningKeys
) -> None:
    token = signer.sign(_claims())
    keys.rotate()
    assert signer.sign(_claims()) != token
    assert verify_receipt(token, keys.jwks(), now=NOW)["jti"] == "rcp_1"


def test_someone_elses_receipt_is_refused_for_the_person(
    signer: JoseReceiptSigner, keys: SigningKeys
) -> None:
    with pytest.raises(consent_receipts.ReceiptNotYours) as info:
        consent_receipts.verify(signer, signer.sign(_claims()), keys.jwks(), now=NOW, person_id="per_2")
    assert info.value.code == "receipt_not_yours"


@pytest.mark.parametrize("token", ["", "not a receipt", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_unreadable_input_is_malformed(token: str, keys: SigningKeys) -> None:
    with pytest.raises(consent_receipts.ReceiptMalformed) as info:
        verify_receipt(token, keys.jwks(), now=NOW)
    assert info.value.code == "receipt_malformed"


def test_an_unsigned_receipt_with_the_right_type_is_refused(keys: SigningKeys) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": RECEIPT_TYP}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    with pytest.raises(consent_receipts.ReceiptBadSignature):
        verify_receipt(f"{header}.{payload}.", keys.jwks(), now=NOW)


def test_the_issuer_can_be_read_before_verifying(signer: JoseReceiptSigner) -> None:
    assert unverified_claims(signer.sign(_claims()))["iss"] == "https://ledgerlink.example"


def test_claims_of_the_wrong_shape_are_malformed() -> None:
    claims = _claims()
    del claims["accounts"]
    with pytest.raises(consent_receipts.ReceiptMalformed):
        consent_receipts.verify_claims(claims)
