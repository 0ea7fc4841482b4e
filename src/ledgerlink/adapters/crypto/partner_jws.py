"""Signed requests to banks and signed messages from them: compact JWS (RFC 7515), EdDSA over
Ed25519 (RFC 8037), with joserfc. Each use has its own `typ` (RFC 8725 section 3.11) so a
token signed for one thing cannot be replayed as another (docs/bank-dialogue.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.jwk import OKPKey

from ledgerlink.adapters.crypto.jws import ALG, _eddsa_allowed, verify_compact
from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.services.dialogue.ports import BankSignatureInvalid
from ledgerlink.services.kernel.ports import Signer

__all__ = ["BANK_MESSAGE_TYP", "MAX_LIFETIME", "REQUEST_TYP", "PartnerJws"]

REQUEST_TYP = "ledgerlink-request+jwt"
BANK_MESSAGE_TYP = "bank-message+jwt"
MAX_LIFETIME = 600  # seconds between iat and exp, at most
CLOCK_SKEW = 60  # seconds an iat may lie in the future


def _bad(text: str) -> BankSignatureInvalid:
    return BankSignatureInvalid(f"the bank message is not verifiable: {text}")


class PartnerJws:
    """`PartnerSigning` with the platform's signing keys (the same as `deps.signer`)."""

    def __init__(self, keys: Signer) -> None:
        if not isinstance(keys, SigningKeys):
            raise TypeError("PartnerJws signs with SigningKeys (it needs the private key)")
        self._keys = keys

    def sign_request(self, claims: Mapping[str, Any]) -> str:
        kid = self._keys.key_id
        key = OKPKey.import_key(self._keys.private_key(), parameters={"kid": kid, "alg": ALG, "use": "sig"})
        payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        with _eddsa_allowed():
            return jws.serialize_compact(
                {"alg": ALG, "kid": kid, "typ": REQUEST_TYP}, payload.encode(), key, algorithms=[ALG]
            )

    def verify_bank_message(
        self, token: str, jwks: Mapping[str, Any], *, issuer: str, audience: str, now: datetime
    ) -> dict[str, Any]:
        claims = verify_compact(token, jwks, typ=BANK_MESSAGE_TYP, fail=lambda _kind, text: _bad(text))
        if claims.get("iss") != issuer:
            raise _bad("'iss' is not this bank's registered issuer")
        if claims.get("aud") != audience:
            raise _bad("'aud' is not this platform")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
            raise _bad("'iat' and 'exp' must be integers (seconds since the epoch)")
        assert isinstance(iat, int) and isinstance(exp, int)
        ts = int(now.timestamp())
        if exp <= ts:
            raise _bad("it has expired ('exp' is past)")
        if iat > ts + CLOCK_SKEW or exp - iat > MAX_LIFETIME:
            raise _bad(f"'iat' is in the future or 'exp' is more than {MAX_LIFETIME} s after it")
        return claims


def new_ed25519_pem() -> str:
    """A new Ed25519 private key, PKCS8 PEM (for a sandbox bank's registration file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_jwks(private_pem: bytes) -> dict[str, Any]:
    """The public JWKS of an Ed25519 private key; kid = RFC 7638 thumbprint."""
    key = OKPKey.import_key(private_pem)
    public = dict(key.as_dict(private=False))
    public.update(kid=key.thumbprint(), use="sig", alg=ALG)
    return {"keys": [public]}
