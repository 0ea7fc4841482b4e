"""The bank's Ed25519 signing key, and the platform's keys that sign its requests.

Compact JWS (RFC 7515), EdDSA over Ed25519 (RFC 8037), with joserfc. Every token names its
use in `typ` (RFC 8725 section 3.11): the bank signs `bank-message+jwt`, and accepts from the
platform only `ledgerlink-request+jwt`. See docs/bank-dialogue.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import OKPKey

from ledgerlink.sandbox._model import Problem
from ledgerlink.sandbox._tls import tls_context

log = logging.getLogger("ledgerlink.sandbox.keys")

ALG = "EdDSA"
REQUEST_TYP = "ledgerlink-request+jwt"
MESSAGE_TYP = "bank-message+jwt"
MAX_LIFETIME = 600  # seconds between iat and exp, at most
CLOCK_SKEW = 60  # seconds an iat may lie in the future
JWKS_MAX_AGE = 600.0  # wall-clock seconds a fetched key set is trusted (a removed key dies)


@contextmanager
def _eddsa_allowed() -> Iterator[None]:
    # joserfc warns on "EdDSA" (RFC 9864 prefers "Ed25519"); the contract names "EdDSA",
    # which is what most JOSE libraries verify today.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        yield


class BankKey:
    """The bank's signing key; its kid is the RFC 7638 thumbprint of the public key."""

    def __init__(self, pem: bytes | None) -> None:
        if pem is None:
            key = OKPKey.generate_key("Ed25519")
        else:
            try:
                key = OKPKey.import_key(pem)
            except (JoseError, ValueError, TypeError) as exc:
                raise ValueError(f"signing_key_pem is not an Ed25519 private key "
                                 f"({type(exc).__name__})") from None
            if not key.is_private or key.curve_name != "Ed25519":
                raise ValueError("signing_key_pem must be an Ed25519 PRIVATE key (PKCS8 PEM)")
        self.kid = key.thumbprint()
        self._key = OKPKey.import_key(key.as_dict(private=True),
                                      parameters={"kid": self.kid, "alg": ALG, "use": "sig"})

    def jwks(self) -> dict[str, Any]:
        public = {k: v for k, v in self._key.as_dict(private=False).items() if k != "d"}
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALG}]}

    def sign(self, claims: Mapping[str, Any], *, typ: str) -> str:
        payload = json.dumps(dict(claims), separators=(",", ":"), sort_keys=True,
                             ensure_ascii=False)
        with _eddsa_allowed():
            return jws.serialize_compact({"alg": ALG, "kid": self.kid, "typ": typ},
                                         payload.encode(), self._key, algorithms=[ALG])


def _bad(detail: str) -> Problem:
    return Problem(401, "bad_signature", detail, title="Bad signature")


def _expired(detail: str) -> Problem:
    return Problem(401, "request_expired", detail, title="Request expired")


def _malformed(detail: str) -> Problem:
    return Problem(422, "invalid_request", detail, title="Invalid request")


class PlatformKeys:
    """The clients' public keys, fetched from their `jwks_uri`, cached for JWKS_MAX_AGE, and
    fetched again (once per request) when a token names a key the cache does not hold (key
    rotation)."""

    def __init__(self, *, timeout: float, http: httpx.AsyncClient | None) -> None:
        self._timeout = timeout
        self._http = http
        self._own_http = False
        self._cache: dict[str, dict[str, Any]] = {}
        self._fetched_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0  # how often a key set was fetched (tests check the cache works)

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None
            self._own_http = False

    async def verify(self, token: str, *, jwks_uri: str | None, audience: str,
                     now: datetime) -> dict[str, Any]:
        """The claims of a request token signed by a key at `jwks_uri`, or a Problem:
        401 `bad_signature` / `request_expired`, 422 for a malformed token."""
        try:
            obj = jws.extract_compact(token.strip().encode("ascii"))
        except (JoseError, ValueError, UnicodeError):
            raise _malformed("the body is not a compact JWS (three base64url parts "
                             "separated by dots)") from None
        header = obj.headers()
        if header.get("typ") != REQUEST_TYP:
            raise _bad(f"the token's typ is {str(header.get('typ'))[:40]!r}, "
                       f"not {REQUEST_TYP!r}")
        if header.get("alg") != ALG:
            raise _bad(f"requests must be signed with {ALG}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _bad("the token's header names no key ('kid')")
        if not jwks_uri:
            raise _bad("this client registered no jwks_uri, so none of its signatures can "
                       "be checked")
        key = await self._key(jwks_uri, kid)
        try:
            with _eddsa_allowed():
                valid = jws.validate_compact(obj, key, algorithms=[ALG])
        except JoseError:
            valid = False
        if not valid:
            raise _bad(f"the signature does not match the client's key {kid[:16]}")
        return _claims(obj.payload, audience=audience, now=now)

    async def _key(self, jwks_uri: str, kid: str) -> OKPKey:
        cached = self._cache.get(jwks_uri)
        if cached is not None and time.monotonic() - self._fetched_at[jwks_uri] > JWKS_MAX_AGE:
            del self._cache[jwks_uri]  # too old to trust: fetched again below
            cached = None
        entry = _find(cached, kid) if cached is not None else None
        if entry is None:
            lock = self._locks.setdefault(jwks_uri, asyncio.Lock())
            async with lock:
                if self._cache.get(jwks_uri) is cached:  # nobody refreshed it meanwhile
                    self._cache[jwks_uri] = await self._fetch(jwks_uri)
                    self._fetched_at[jwks_uri] = time.monotonic()
                entry = _find(self._cache[jwks_uri], kid)
        if entry is None:
            raise _bad(f"the token was signed with key {kid[:16]}, which the client does "
                       "not publish")
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519" or "d" in entry:
            raise _bad(f"the client's key {kid[:16]} is not a public Ed25519 key")
        try:
            return OKPKey.import_key(dict(entry))
        except (JoseError, ValueError, TypeError):
            raise _bad(f"the client's key {kid[:16]} is unusable") from None

    async def _fetch(self, jwks_uri: str) -> dict[str, Any]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, verify=tls_context())
            self._own_http = True
        self.fetches += 1
        unavailable = Problem(503, "client_keys_unavailable",
                              "the client's key set could not be fetched; try again shortly",
                              title="Client keys unavailable")
        try:
            resp = await self._http.get(jwks_uri, timeout=self._timeout,
                                        headers={"accept": "application/json"})
        except httpx.HTTPError as exc:
            log.warning("fetching a client's JWKS failed: %s", type(exc).__name__)
            raise unavailable from None
        if resp.status_code != 200:
            log.warning("a client's JWKS answered %s", resp.status_code)
            raise unavailable
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("keys"), list):
            log.warning("a client's JWKS is not a JWK set")
            raise unavailable
        return body


def _find(jwks: Mapping[str, Any] | None, kid: str) -> dict[str, Any] | None:
    for entry in (jwks or {}).get("keys") or []:
        if isinstance(entry, dict) and entry.get("kid") == kid:
            return entry
    return None


def _claims(payload: bytes | None, *, audience: str, now: datetime) -> dict[str, Any]:
    try:
        claims = json.loads(payload or b"")
    except ValueError:
        raise _malformed("the token's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise _malformed("the token's payload is not a JSON object")
    for name in ("iss", "jti", "consent_id"):
        value = claims.get(name)
        if not isinstance(value, str) or not value or len(value) > 200:
            raise _malformed(f"the token needs a '{name}' string (1-200 characters)")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise _bad("the token's 'aud' is not this bank: it was signed for someone else")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
        raise _malformed("'iat' and 'exp' must be integers (seconds since the epoch)")
    assert isinstance(iat, int) and isinstance(exp, int)
    ts = int(now.timestamp())
    if exp <= ts:
        raise _expired("the request token has expired ('exp' is past): sign it again")
    if iat > ts + CLOCK_SKEW:
        raise _expired("the request token was issued in the future ('iat')")
    if exp - iat > MAX_LIFETIME:
        raise _expired(f"the request token lives longer than {MAX_LIFETIME} s ('exp' - 'iat')")
    return claims
