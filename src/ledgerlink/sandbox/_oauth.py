"""The OAuth 2 authorization server, on Authlib's framework-agnostic core.

Authlib calls its grant callbacks synchronously. Every callback here touches only in-memory
dictionaries (no I/O), so the routes call Authlib directly on the event loop: no thread pool,
hence no locking of the shared books.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge

from ledgerlink.domain.clock import Clock
from ledgerlink.sandbox._ledger import Ledger
from ledgerlink.sandbox._model import Consent, Problem
from ledgerlink.sandbox.config import OAuthClientConfig

SCOPES = ("balances", "transactions", "alerts")
AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def token_hash(raw: str) -> str:
    """Tokens are kept as hashes: a dump of the sandbox's memory gives no usable token."""
    return hashlib.sha256(raw.encode()).hexdigest()


# ---------------------------------------------------------------------- request adapter


@dataclass(frozen=True)
class HttpRequest:
    """What Authlib needs of an HTTP request, read from Starlette beforehand (body is async)."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: list[tuple[str, str]] = field(default_factory=list)
    form: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: Any
    headers: list[tuple[str, str]]


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, raw: HttpRequest) -> None:
        super().__init__(method=raw.method, uri=raw.url, headers=raw.headers)
        self._args = dict(raw.query)
        self._form = dict(raw.form)
        self.payload = _Payload(raw.query + raw.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


# ---------------------------------------------------------------------- records


@dataclass
class Grantor:
    """The customer who approved, and the accounts they picked."""

    login: str
    account_ids: tuple[str, ...]


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, config: OAuthClientConfig) -> None:
        self.config = config
        self.client_id = config.client_id

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
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    login: str
    account_ids: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    created_at: datetime
    used: bool = False
    consent_id: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class TokenRecord:
    access_hash: str
    refresh_hash: str | None
    client_id: str
    consent_id: str
    scope: str
    expires_at: datetime
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope


class OAuthStore:
    def __init__(self) -> None:
        self.codes: dict[str, AuthCode] = {}
        self.by_access: dict[str, TokenRecord] = {}
        self.by_refresh: dict[str, TokenRecord] = {}

    def revoke_consent_tokens(self, consent_id: str) -> None:
        for rec in self.by_access.values():
            if rec.consent_id == consent_id:
                rec.access_revoked = rec.refresh_revoked = True


# ---------------------------------------------------------------------- grants


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only: `plain` and a missing challenge are refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE 'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class _CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def _srv(self) -> SandboxAuthServer:
        server: SandboxAuthServer = self.server
        return server

    def save_authorization_code(self, code: str, request: _Request) -> None:
        grantor: Grantor = request.user
        data = request.payload.data
        self._srv.store.codes[code] = AuthCode(
            code, request.client.client_id, data["redirect_uri"], request.scope, grantor.login,
            grantor.account_ids, data["code_challenge"], data["code_challenge_method"],
            self._srv.clock.now())

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        item = self._srv.store.codes.get(code)
        if item is None or item.client_id != client.client_id:
            return None
        if item.used:  # replay: RFC 6749 §4.1.2 says revoke what the code gave
            if item.consent_id is not None:
                self._srv.on_code_replay(item.consent_id)
            return None
        if self._srv.clock.now() - item.created_at >= timedelta(seconds=self._srv.code_ttl):
            return None
        return item

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        authorization_code.used = True

    def authenticate_user(self, authorization_code: AuthCode) -> Grantor:
        return Grantor(authorization_code.login, authorization_code.account_ids)


class _RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotate

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        server: SandboxAuthServer = self.server
        rec = server.store.by_refresh.get(token_hash(refresh_token))
        if rec is None or rec.refresh_revoked:
            return None
        if not server.ledger.consents[rec.consent_id].active(server.clock.now()):
            return None
        return rec

    def authenticate_user(self, refresh_token: TokenRecord) -> Grantor:
        server: SandboxAuthServer = self.server
        consent = server.ledger.consents[refresh_token.consent_id]
        return Grantor(consent.login, consent.account_ids)

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        refresh_token.refresh_revoked = True


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        store: OAuthStore = self.server.store
        key = token_hash(token_string)
        return store.by_access.get(key) or store.by_refresh.get(key)

    def revoke_token(self, token: TokenRecord, request: _Request) -> None:
        # Either token ends the whole grant (RFC 7009 §2.1 allows it): the platform revokes
        # when the person unlinks, and the consent must end with it.
        self.server.on_client_revoke(token.consent_id)


# ---------------------------------------------------------------------- server


class SandboxAuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, *, ledger: Ledger, clients: list[OAuthClientConfig], clock: Clock,
                 access_ttl: int, consent_days: int, code_ttl: int,
                 on_client_revoke: Callable[[str], None],
                 on_code_replay: Callable[[str], None]) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.ledger = ledger
        self.clients = {c.client_id: Client(c) for c in clients}
        self.clock = clock
        self.access_ttl = access_ttl
        self.consent_days = consent_days
        self.code_ttl = code_ttl
        self.store = OAuthStore()
        self.on_client_revoke = on_client_revoke
        self.on_code_replay = on_code_replay
        self.register_token_generator("default", self._generate)
        self.register_grant(_CodeGrant, [S256Only(required=True)])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_Revocation)

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def _generate(self, grant_type: str, client: Client, user: Any = None,
                  scope: str | None = None, expires_in: int | None = None,
                  include_refresh_token: bool = True) -> dict[str, Any]:
        token: dict[str, Any] = {"token_type": "Bearer", "access_token": generate_token(42),
                                 "expires_in": expires_in or self.access_ttl, "scope": scope or ""}
        if include_refresh_token:
            token["refresh_token"] = generate_token(48)
        return token

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        now = self.clock.now()
        code: AuthCode | None = request.authorization_code
        if code is not None:
            consent = Consent(self.ledger.new_id("cns"), code.login, code.client_id,
                              code.account_ids, tuple(code.scope.split()), now,
                              now + timedelta(days=self.consent_days))
            self.ledger.consents[consent.consent_id] = consent
            code.consent_id = consent.consent_id
        else:
            previous: TokenRecord = request.refresh_token
            consent = self.ledger.consents[previous.consent_id]
        refresh = token.get("refresh_token")
        rec = TokenRecord(token_hash(token["access_token"]),
                          token_hash(refresh) if refresh else None, request.client.client_id,
                          consent.consent_id, token["scope"],
                          now + timedelta(seconds=int(token["expires_in"])))
        self.store.by_access[rec.access_hash] = rec
        if rec.refresh_hash:
            self.store.by_refresh[rec.refresh_hash] = rec
        token["consent_id"] = consent.consent_id
        token["consent_expires_at"] = consent.expires_at.replace(microsecond=0).isoformat().replace(
            "+00:00", "Z")

    def create_oauth2_request(self, request: HttpRequest) -> _Request:
        return _Request(request)

    def create_json_request(self, request: HttpRequest) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> HttpResponse:
        return HttpResponse(status, body, list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def authenticate_bearer(self, raw: str | None) -> tuple[TokenRecord, Consent]:
        """The access token of a data API call, or a 401 problem with a stable code."""
        if not raw:
            raise Problem(401, "token_missing", "send 'Authorization: Bearer <access token>'")
        rec = self.store.by_access.get(token_hash(raw))
        if rec is None or rec.access_revoked:
            raise Problem(401, "invalid_token", "the access token is unknown or was revoked")
        now = self.clock.now()
        if now >= rec.expires_at:
            raise Problem(401, "token_expired", "the access token has expired: refresh it")
        consent = self.ledger.consents[rec.consent_id]
        if consent.revoked_at is not None:
            raise Problem(401, "consent_revoked", "the customer's consent was revoked")
        if now >= consent.expires_at:
            raise Problem(401, "consent_expired", "the customer's consent has expired")
        return rec, consent
