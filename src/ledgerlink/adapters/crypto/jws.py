"""Consent receipts as compact JWS (RFC 7515), EdDSA over Ed25519 (RFC 8037), with joserfc.

The header is `{"alg": "EdDSA", "kid": <signing key id>, "typ": "consent-receipt+jwt"}`. The
explicit `typ` (RFC 8725, section 3.11) keeps anything else the platform key signs from
being passed off as a receipt. Verification needs only the public key set, so it runs
anywhere: `verify_receipt` is also what `ledgerlink receipt verify` calls.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.services.kernel.ports import Signer
from ledgerlink.services.linking.consent_receipts import (
    ReceiptBadSignature,
    ReceiptExpired,
    ReceiptMalformed,
    ReceiptUnknownKey,
)

__all__ = ["RECEIPT_TYP", "JoseReceiptSigner", "unverified_claims", "verify_receipt"]

ALG = "EdDSA"
RECEIPT_TYP = "consent-receipt+jwt"


@contextmanager
def _eddsa_allowed() -> Iterator[None]:
    # joserfc warns on "EdDSA" because RFC 9864 prefers the fully specified "Ed25519". We keep
    # "EdDSA": the published JWKS names it and most JOSE libraries verify only that name yet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        yield


def _extract(token: str) -> jws.CompactSignature:
    try:
        return jws.extract_compact(token.strip().encode("ascii"))
    except (JoseError, ValueError, UnicodeError):
        raise ReceiptMalformed(
            "this is not a compact JWS (three base64url parts separated by dots)"
        ) from None


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload WITHOUT checking the signature: only to find where the issuer publishes
    its keys. Never trust what it says before `verify_receipt` succeeds."""
    obj = _extract(token)
    return _claims(obj.payload)


def _claims(payload: bytes | None) -> dict[str, Any]:
    try:
        claims = json.loads(payload or b"")
    except ValueError:
        raise ReceiptMalformed("the receipt's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise ReceiptMalformed("the receipt's payload is not a JSON object")
    return claims


# A failure of `verify_compact`: which kind (malformed | unknown_key | bad_signature) and words.
Failure = Callable[[str, str], Exception]


def _public_key(jwks: Mapping[str, Any], kid: str, fail: Failure) -> OKPKey:
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise fail("unknown_key", "the key set has no 'keys' list")
    for entry in keys:
        if isinstance(entry, dict) and entry.get("kid") == kid:
            if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or "d" in entry:
                raise fail("unknown_key", f"key {kid[:43]} in the key set is not a public Ed25519 key")
            try:
                return OKPKey.import_key(dict(entry))
            except (JoseError, ValueError) as exc:
                raise fail("unknown_key",
                           f"key {kid[:43]} in the key set is unusable ({type(exc).__name__})") from None
    raise fail("unknown_key", f"it was signed with key {kid[:43]}, which is not in the key set")


def verify_compact(token: str, jwks: Mapping[str, Any], *, typ: str, fail: Failure) -> dict[str, Any]:
    """The JSON object a compact JWS of `typ` carries, signed (EdDSA) by a key of `jwks`.
    Checks shape, typ, alg, kid, signature; claims such as exp are the caller's."""
    try:
        obj = jws.extract_compact(token.strip().encode("ascii"))
    except (JoseError, ValueError, UnicodeError):
        raise fail("malformed", "it is not a compact JWS (three base64url parts separated by dots)") from None
    header = obj.headers()
    if header.get("typ") != typ:
        raise fail("malformed", f"its typ is {str(header.get('typ'))[:40]!r}, not {typ!r}")
    if header.get("alg") != ALG:
        raise fail("bad_signature", f"it must be signed with {ALG}, not {str(header.get('alg'))[:20]!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise fail("unknown_key", "it does not name the key that signed it (no 'kid')")
    key = _public_key(jwks, kid, fail)
    try:
        with _eddsa_allowed():
            valid = jws.validate_compact(obj, key, algorithms=[ALG])
    except JoseError:
        valid = False
    if not valid:
        raise fail("bad_signature",
                   f"the signature does not match key {kid[:43]}: altered or not signed by it")
    try:
        claims = json.loads(obj.payload or b"")
    except ValueError:
        raise fail("malformed", "its payload is not JSON") from None
    if not isinstance(claims, dict):
        raise fail("malformed", "its payload is not a JSON object")
    return claims


def _receipt_failure(kind: str, text: str) -> Exception:
    error = {"malformed": ReceiptMalformed, "unknown_key": ReceiptUnknownKey}.get(kind, ReceiptBadSignature)
    return error(f"the receipt is not valid: {text}")


def verify_receipt(token: str, jwks: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """The claims of a receipt signed by a key of `jwks`, valid at `now`.

    Checks, in order: shape (ReceiptMalformed), algorithm and key (ReceiptBadSignature,
    ReceiptUnknownKey), signature (ReceiptBadSignature), expiry (ReceiptExpired, which
    still carries the claims)."""
    claims = verify_compact(token, jwks, typ=RECEIPT_TYP, fail=_receipt_failure)
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise ReceiptMalformed("the receipt has no valid 'exp' claim")
    if now.timestamp() >= exp:
        raise ReceiptExpired("the consent this receipt records has expired", claims=claims)
    return claims


class JoseReceiptSigner:
    """`ReceiptSigner` with the platform's signing keys (the same keys as `deps.signer`)."""

    def __init__(self, keys: Signer) -> None:
        if not isinstance(keys, SigningKeys):
            raise TypeError("JoseReceiptSigner signs with SigningKeys (it needs the private key)")
        self._keys = keys

    def sign(self, claims: Mapping[str, Any]) -> str:
        kid = self._keys.key_id
        key = OKPKey.import_key(self._keys.private_key(), parameters={"kid": kid, "alg": ALG, "use": "sig"})
        payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        header = {"alg": ALG, "kid": kid, "typ": RECEIPT_TYP}
        with _eddsa_allowed():
            return jws.serialize_compact(header, payload.encode(), key, algorithms=[ALG])

    def verify(self, token: str, jwks: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
        return verify_receipt(token, jwks, now=now)
