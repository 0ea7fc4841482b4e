"""HTTP connector to an open-banking style bank (the built-in sandbox bank speaks it).

OAuth 2 with Authlib's client-side primitives (PKCE S256, token requests, RFC 7009 revocation)
over the injected `httpx.AsyncClient`; the data API with plain httpx; every payload parsed by
`ledgerlink.services.ingest.wire`. Endpoints are fixed paths under `issuer` (see docs/sandbox-bank.md):
`authorization_request` is synchronous, so there is no metadata discovery round trip.

Tokens never appear in exception messages or logs: errors carry the bank's error *code* only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7009.parameters import prepare_revoke_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from ledgerlink.domain.banking import AccountType, Scope
from ledgerlink.domain.clock import Clock
from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.text import InvalidText, display_line
from ledgerlink.services.ingest.wire import parse_balance, parse_instant, parse_transaction
from ledgerlink.services.linking.ports import (
    AuthorizationRequest,
    BankAccountInfo,
    BankAuthError,
    BankBalance,
    BankError,
    BankRefused,
    BankUnavailable,
    SyncPage,
    TokenSet,
)

_FORM = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
_AUTH_CODES = {"token_expired": "bank_token_expired", "consent_revoked": "bank_consent_revoked",
               "consent_expired": "bank_consent_expired"}


class OpenBankingConnector:
    """`BankConnector` for one bank. `sync_transactions` returns ONE page; callers loop while
    `has_more`, persisting `next_cursor` after each page."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str,
                 http: httpx.AsyncClient, clock: Clock, page_size: int = 100) -> None:
        self._issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._clock = clock
        self._page_size = page_size

    # ------------------------------------------------------------------ OAuth

    def authorization_request(self, *, redirect_uri: str, scopes: Sequence[Scope],
                              state: str) -> AuthorizationRequest:
        verifier = generate_token(64)  # 64 chars of [A-Za-z0-9]: within RFC 7636's 43..128
        url = prepare_grant_uri(
            f"{self._issuer}/oauth/authorize", self._client_id, "code",
            redirect_uri=redirect_uri, scope=" ".join(s.value for s in scopes), state=state,
            code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> TokenSet:
        body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri,
                                     code_verifier=code_verifier)
        return await self._token_request(body)

    async def refresh(self, *, refresh_token: str) -> TokenSet:
        body = prepare_token_request("refresh_token", refresh_token=refresh_token)
        return await self._token_request(body)

    async def revoke(self, *, token: str) -> None:
        body, headers = prepare_revoke_token_request(token, headers=dict(_FORM))
        resp = await self._send("POST", f"{self._issuer}/oauth/revoke", content=body,
                                headers=headers, auth=self._basic())
        if resp.status_code != 200:
            self._raise_oauth(resp)

    def _basic(self) -> httpx.BasicAuth:
        # RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding
        return httpx.BasicAuth(quote(self._client_id, safe=""), quote(self._client_secret, safe=""))

    async def _token_request(self, body: str) -> TokenSet:
        resp = await self._send("POST", f"{self._issuer}/oauth/token", content=body,
                                headers=_FORM, auth=self._basic())
        if resp.status_code != 200:
            self._raise_oauth(resp)
        data = _json_object(resp)
        try:
            access = data["access_token"]
            if not isinstance(access, str) or not access:
                raise InvalidInput("access_token", code="malformed_payload")
            if str(data.get("token_type", "")).lower() != "bearer":
                raise InvalidInput("token_type", code="malformed_payload")
            refresh = data.get("refresh_token")
            expires_in = data.get("expires_in")
            expires_at = (self._clock.now() + timedelta(seconds=int(expires_in))
                          if expires_in is not None else None)
            known = {s.value for s in Scope}
            scopes = tuple(Scope(s) for s in str(data.get("scope") or "").split() if s in known)
            consent_exp = data.get("consent_expires_at")
            consent_expires_at: datetime | None = (
                parse_instant(consent_exp, "consent_expires_at") if consent_exp else None)
            consent_id = data.get("consent_id")
        except (KeyError, TypeError, ValueError, InvalidInput):
            raise BankError("the bank's token response is malformed",
                            code="bank_bad_response") from None
        return TokenSet(access_token=access,
                        refresh_token=refresh if isinstance(refresh, str) else None,
                        expires_at=expires_at, scopes=scopes,
                        consent_id=consent_id if isinstance(consent_id, str) else None,
                        consent_expires_at=consent_expires_at)

    @staticmethod
    def _raise_oauth(resp: httpx.Response) -> None:
        if resp.status_code >= 500 or resp.status_code == 429:
            raise BankUnavailable(f"the bank's authorization server answered {resp.status_code}")
        try:
            error = str(resp.json().get("error", "unknown"))
        except (ValueError, AttributeError):
            error = "unknown"
        error = "".join(ch for ch in error if ch.isalnum() or ch == "_")[:40] or "unknown"
        if error in ("invalid_grant", "invalid_client", "unauthorized_client") or \
                resp.status_code == 401:
            raise BankAuthError(f"the bank refused the request ({error})", code=f"oauth_{error}")
        raise BankError(f"the bank refused the request ({error})", code=f"oauth_{error}")

    # ------------------------------------------------------------------ data API

    async def accounts(self, *, access_token: str) -> list[BankAccountInfo]:
        data = await self._api("GET", "/open-banking/v1/accounts", access_token)
        try:
            rows = data["accounts"]
            out = []
            for row in rows:
                kind = row["type"]
                out.append(BankAccountInfo(
                    bank_account_id=_text(row["account_id"]),
                    name=display_line(_text(row["name"]), "accounts[].name") or "Account",
                    type=AccountType(kind) if kind in AccountType.__members__.values()
                    else AccountType.OTHER,
                    currency=_text(row["currency"]).upper(),
                    last4=display_line(_text(row["mask"]), "accounts[].mask")[-4:]))
        except InvalidText as exc:
            raise BankError(f"the bank's account list is malformed: {exc.detail}",
                            code="bank_bad_response") from None
        except (KeyError, TypeError, ValueError):
            raise BankError("the bank's account list is malformed",
                            code="bank_bad_response") from None
        return out

    async def balance(self, *, access_token: str, bank_account_id: str) -> BankBalance:
        data = await self._api(
            "GET", f"/open-banking/v1/accounts/{quote(bank_account_id, safe='')}/balances",
            access_token)
        try:
            return parse_balance(data)
        except InvalidInput:
            raise BankError("the bank's balance is malformed", code="bank_bad_response") from None

    async def sync_transactions(self, *, access_token: str, bank_account_id: str,
                                cursor: str | None) -> SyncPage:
        data = await self._api("POST", "/open-banking/v1/transactions/sync", access_token,
                               json={"account_id": bank_account_id, "cursor": cursor,
                                     "count": self._page_size})
        try:
            added = [parse_transaction(t, "added[]") for t in data["added"]]
            modified = [parse_transaction(t, "modified[]") for t in data["modified"]]
            removed = [_text(r["transaction_id"]) for r in data["removed"]]
            next_cursor = _text(data["next_cursor"])
            has_more = data["has_more"]
            if not isinstance(has_more, bool):
                raise ValueError("has_more")
        except InvalidText as exc:  # names the field, never the value
            raise BankError(f"the bank's sync page is malformed: {exc.detail}",
                            code="bank_bad_response") from None
        except (KeyError, TypeError, ValueError, InvalidInput):
            raise BankError("the bank's sync page is malformed", code="bank_bad_response") from None
        return SyncPage(added=added, modified=modified, removed=removed,
                        next_cursor=next_cursor, has_more=has_more)

    async def subscribe_events(self, *, access_token: str, callback_url: str) -> str:
        data = await self._api("POST", "/open-banking/v1/event-subscriptions", access_token,
                               json={"url": callback_url})
        try:
            return _text(data["subscription_id"])
        except (KeyError, TypeError, ValueError):
            raise BankError("the bank's subscription answer is malformed",
                            code="bank_bad_response") from None

    async def post_signed(self, *, access_token: str, path: str, token: str,
                          idempotency_key: str) -> dict[str, Any]:
        resp = await self._send("POST", f"{self._issuer}{path}", content=token.encode("ascii"),
                                headers={"authorization": f"Bearer {access_token}",
                                         "content-type": "application/jose",
                                         "idempotency-key": idempotency_key,
                                         "accept": "application/json"})
        if resp.status_code >= 500 or resp.status_code == 429:
            raise BankUnavailable(f"the bank answered {resp.status_code}")
        if resp.status_code >= 400:
            code = _problem_code(resp)
            if resp.status_code == 401 and code in ("token_expired", "token_invalid", "consent_revoked",
                                                    "consent_expired", "invalid_token", "unknown"):
                raise BankAuthError(f"the bank refused the access token ({code})",
                                    code=_AUTH_CODES.get(code, "bank_token_invalid"))
            raise BankRefused(f"the bank refused the request ({resp.status_code} {code})", code=code)
        return _json_object(resp)

    async def _api(self, method: str, path: str, access_token: str,
                   json: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = await self._send(method, f"{self._issuer}{path}", json=json,
                                headers={"authorization": f"Bearer {access_token}",
                                         "accept": "application/json"})
        if resp.status_code >= 500 or resp.status_code == 429:
            raise BankUnavailable(f"the bank's data API answered {resp.status_code}")
        if resp.status_code >= 400:
            code = _problem_code(resp)
            if resp.status_code == 401:
                raise BankAuthError(f"the bank refused the access token ({code})",
                                    code=_AUTH_CODES.get(code, "bank_token_invalid"))
            if resp.status_code == 403:
                raise BankError(f"the consent does not allow this ({code})",
                                code="bank_insufficient_scope")
            if resp.status_code == 404:
                raise BankError(f"the bank does not know this resource ({code})",
                                code="bank_not_found")
            raise BankError(f"the bank refused the request ({code})", code="bank_request_refused")
        return _json_object(resp)

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            # the message of a transport error could carry the URL; give its type only
            raise BankUnavailable(f"cannot reach the bank ({type(exc).__name__})") from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise ValueError("expected a non-empty string")
    return value


def _json_object(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise BankError("the bank answered with invalid JSON", code="bank_bad_response") from None
    if not isinstance(data, dict):
        raise BankError("the bank answered with a non-object", code="bank_bad_response")
    return data


def _problem_code(resp: httpx.Response) -> str:
    try:
        code = resp.json().get("code", "unknown")
    except (ValueError, AttributeError):
        return "unknown"
    return "".join(ch for ch in str(code) if ch.isalnum() or ch == "_")[:40] or "unknown"
