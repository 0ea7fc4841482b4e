"""The shop's OAuth 2 authorization server (issue 11), on Authlib's core like the sandbox bank's
(`sandbox/_oauth.py`, whose request adapter and S256-only PKCE it reuses): authorization code
with PKCE S256 (required), refresh tokens rotated, RFC 7009 revocation, scopes `orders` and
`shipments`. A grant is one customer's consent to one client; it expires after `grant_days`.

Every callback touches only in-memory dictionaries, so Authlib runs on the event loop. Tokens
are kept as SHA-256 hashes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._oauth import HttpRequest, HttpResponse, S256Only, _Request, token_hash

__all__ = ["SCOPES", "ShopAuthServer", "ShopClient", "ShopGrant", "ShopToken"]

SCOPES = ("orders", "shipments")
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass(frozen=True)
class ShopClient:
    """A registered OAuth client of the shop (the platform), confidential."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: tuple[str, ...]
    name: str = "Ledgerlink"


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, config: ShopClient) -> None:
        self.config, self.client_id = config, config.client_id

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the redirect URI is always required and matched exactly

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return " ".join(SCOPES)
        return " ".join(s for s in scope.split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.config.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.config.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class ShopGrant:
    """One customer's consent to one client: what the tokens of a link stand on."""

    grant_id: str
    customer: str
    client_id: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    revoked_by: str | None = None  # client | shop

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    customer: str
    code_challenge: str
    code_challenge_method: str
    created_at: datetime
    used: bool = False
    grant_id: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class ShopToken:
    access_hash: str
    refresh_hash: str | None
    client_id: str
    grant_id: str
    scope: str
    expires_at: datetime
    revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def _srv(self) -> ShopAuthServer:
        server: ShopAuthServer = self.server
        return server

    def save_authorization_code(self, code: str, request: _Request) -> None:
        data = request.payload.data
        self._srv.codes[code] = _Code(code, request.client.client_id, data["redirect_uri"], request.scope,
                                      str(request.user), data["code_challenge"],
                                      data["code_challenge_method"], self._srv.clock.now())

    def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
        item = self._srv.codes.get(code)
        if item is None or item.client_id != client.client_id:
            return None
        if item.used:  # a replayed code ends what it gave (RFC 6749 §4.1.2)
            if item.grant_id is not None:
                self._srv.end_grant(item.grant_id, by="shop")
            return None
        if self._srv.clock.now() - item.created_at >= timedelta(seconds=self._srv.code_ttl):
            return None
        return item

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        authorization_code.used = True

    def authenticate_user(self, authorization_code: _Code) -> str:
        return authorization_code.customer


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate

    def authenticate_refresh_token(self, refresh_token: str) -> ShopToken | None:
        server: ShopAuthServer = self.server
        rec = server.by_refresh.get(token_hash(refresh_token))
        if rec is None or rec.revoked or not server.grants[rec.grant_id].active(server.clock.now()):
            return None
        return rec

    def authenticate_user(self, refresh_token: ShopToken) -> str:
        server: ShopAuthServer = self.server
        return server.grants[refresh_token.grant_id].customer

    def revoke_old_credential(self, refresh_token: ShopToken) -> None:
        refresh_token.revoked = True


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> ShopToken | None:
        server: ShopAuthServer = self.server
        key = token_hash(token_string)
        return server.by_access.get(key) or server.by_refresh.get(key)

    def revoke_token(self, token: ShopToken, request: _Request) -> None:
        self.server.end_grant(token.grant_id, by="client")  # either token ends the whole grant


class ShopAuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, *, clients: list[ShopClient], clock: Clock, access_ttl: int = 3600,
                 grant_days: int = 90, code_ttl: int = 300) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.clients = {c.client_id: _Client(c) for c in clients}
        self.clock, self.access_ttl, self.grant_days, self.code_ttl = clock, access_ttl, grant_days, code_ttl
        self.codes: dict[str, _Code] = {}
        self.grants: dict[str, ShopGrant] = {}
        self.by_access: dict[str, ShopToken] = {}
        self.by_refresh: dict[str, ShopToken] = {}
        self.register_token_generator("default", self._generate)
        self.register_grant(_CodeGrant, [S256Only(required=True)])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_Revocation)

    def query_client(self, client_id: str) -> _Client | None:
        return self.clients.get(client_id)

    def end_grant(self, grant_id: str, *, by: str) -> ShopGrant | None:
        grant = self.grants.get(grant_id)
        if grant is None or grant.revoked_at is not None:
            return None
        grant.revoked_at, grant.revoked_by = self.clock.now(), by
        for rec in self.by_access.values():
            if rec.grant_id == grant_id:
                rec.revoked = True
        return grant

    def grants_of(self, customer: str) -> list[ShopGrant]:
        return [g for g in self.grants.values() if g.customer == customer]

    def _generate(self, grant_type: str, client: _Client, user: Any = None, scope: str | None = None,
                  expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
        token: dict[str, Any] = {"token_type": "Bearer", "access_token": generate_token(42),
                                 "expires_in": expires_in or self.access_ttl, "scope": scope or ""}
        if include_refresh_token:
            token["refresh_token"] = generate_token(48)
        return token

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        now = self.clock.now()
        code: _Code | None = request.authorization_code
        if code is not None:
            grant = ShopGrant(f"sgr_{generate_token(16)}", code.customer, code.client_id,
                              tuple(code.scope.split()), now, now + timedelta(days=self.grant_days))
            self.grants[grant.grant_id] = grant
            code.grant_id = grant.grant_id
        else:
            grant = self.grants[request.refresh_token.grant_id]
        refresh = token.get("refresh_token")
        rec = ShopToken(token_hash(token["access_token"]), token_hash(refresh) if refresh else None,
                        request.client.client_id, grant.grant_id, token["scope"],
                        now + timedelta(seconds=int(token["expires_in"])))
        self.by_access[rec.access_hash] = rec
        if rec.refresh_hash:
            self.by_refresh[rec.refresh_hash] = rec
        token["grant_id"], token["customer_id"] = grant.grant_id, grant.customer
        token["grant_expires_at"] = grant.expires_at.replace(microsecond=0).isoformat()

    def create_oauth2_request(self, request: HttpRequest) -> _Request:
        return _Request(request)

    def create_json_request(self, request: HttpRequest) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> HttpResponse:
        return HttpResponse(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def bearer(self, raw: str | None, scope: str) -> ShopGrant:
        """The grant behind a data call's access token; (code, detail) as ValueError args when
        refused: token_missing, invalid_token, token_expired, grant_revoked, grant_expired,
        insufficient_scope."""
        if not raw:
            raise ValueError("token_missing", "send 'Authorization: Bearer <access token>'")
        rec = self.by_access.get(token_hash(raw))
        grant = None if rec is None else self.grants.get(rec.grant_id)
        if rec is None or grant is None:
            raise ValueError("invalid_token", "the access token is unknown")
        now = self.clock.now()
        if grant.revoked_at is not None:
            raise ValueError("grant_revoked", "the customer's consent was revoked")
        if rec.revoked:
            raise ValueError("invalid_token", "the access token was revoked")
        if now >= grant.expires_at:
            raise ValueError("grant_expired", "the customer's consent has expired")
        if now >= rec.expires_at:
            raise ValueError("token_expired", "the access token has expired: refresh it")
        if scope not in rec.scope.split():
            raise ValueError("insufficient_scope", f"the token lacks the {scope!r} scope")
        return grant
