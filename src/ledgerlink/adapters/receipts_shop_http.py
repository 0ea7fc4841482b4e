"""HTTP client of a linked shop (issue 11, ADR 0031): OAuth 2 with Authlib's client-side
primitives (PKCE S256, token requests, RFC 7009 revocation), as `adapters/banks/openbanking.py`
does for a bank, and the shop's cursor-synced `GET /orders`, over the injected
`httpx.AsyncClient`. Errors carry the shop's error code only, never a token."""

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

from ledgerlink.domain.clock import Clock
from ledgerlink.services.receipts.merchant_link_ports import (
    SHOP_SCOPES,
    OrdersPage,
    ShopAuthError,
    ShopAuthorization,
    ShopError,
    ShopTokens,
)

_FORM = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}


def _code(resp: httpx.Response, key: str) -> str:
    try:
        raw = str(resp.json().get(key, "unknown"))
    except (ValueError, AttributeError):
        raw = "unknown"
    return "".join(ch for ch in raw if ch.isalnum() or ch == "_")[:40] or "unknown"


class HttpShopApi:
    """`ShopApi` for one shop whose endpoints are fixed paths under `base_url`."""

    def __init__(self, *, base_url: str, client_id: str, client_secret: str, http: httpx.AsyncClient,
                 clock: Clock) -> None:
        self._base, self._client_id, self._secret = base_url.rstrip("/"), client_id, client_secret
        self._http, self._clock = http, clock

    def authorization_request(self, *, redirect_uri: str, scopes: Sequence[str],
                              state: str) -> ShopAuthorization:
        verifier = generate_token(64)  # within RFC 7636's 43..128 characters
        url = prepare_grant_uri(f"{self._base}/oauth/authorize", self._client_id, "code",
                                redirect_uri=redirect_uri, scope=" ".join(scopes), state=state,
                                code_challenge=create_s256_code_challenge(verifier),
                                code_challenge_method="S256")
        return ShopAuthorization(url=url, state=state, code_verifier=verifier)

    async def exchange_code(self, *, code: str, code_verifier: str, redirect_uri: str) -> ShopTokens:
        body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri,
                                     code_verifier=code_verifier)
        return await self._token(body)

    async def refresh(self, *, refresh_token: str) -> ShopTokens:
        return await self._token(prepare_token_request("refresh_token", refresh_token=refresh_token))

    async def revoke(self, *, token: str) -> None:
        body, headers = prepare_revoke_token_request(token, headers=dict(_FORM))
        resp = await self._send("POST", f"{self._base}/oauth/revoke", content=body, headers=headers,
                                auth=self._basic())
        if resp.status_code != 200:
            raise ShopError(f"the shop refused the revocation ({_code(resp, 'error')})", code="shop_refused")

    async def orders(self, *, access_token: str, cursor: str | None, limit: int) -> OrdersPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        resp = await self._send("GET", f"{self._base}/orders", params=params,
                                headers={"authorization": f"Bearer {access_token}",
                                         "accept": "application/json"})
        if resp.status_code == 401:
            code = _code(resp, "code")
            raise ShopAuthError(f"the shop no longer accepts this link ({code})", code=f"shop_{code}")
        if resp.status_code != 200:
            code = _code(resp, "code")
            raise ShopError(f"the shop refused the orders request ({code})", code=f"shop_{code}")
        try:
            data = resp.json()
            orders, next_cursor, has_more = data["orders"], data["next_cursor"], data["has_more"]
            if not (isinstance(orders, list) and isinstance(next_cursor, str) and isinstance(has_more, bool)):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise ShopError("the shop's orders page is malformed", code="shop_bad_response") from None
        return OrdersPage([o for o in orders if isinstance(o, dict)], next_cursor, has_more)

    def _basic(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(quote(self._client_id, safe=""), quote(self._secret, safe=""))

    async def _token(self, body: str) -> ShopTokens:
        resp = await self._send("POST", f"{self._base}/oauth/token", content=body, headers=_FORM,
                                auth=self._basic())
        if resp.status_code != 200:
            error = _code(resp, "error")
            kind = ShopAuthError if error in ("invalid_grant", "invalid_client") else ShopError
            raise kind(f"the shop refused the token request ({error})", code=f"oauth_{error}")
        try:
            data = resp.json()
            access, customer = data["access_token"], data["customer_id"]
            if not isinstance(access, str) or not access or not isinstance(customer, str) or not customer:
                raise TypeError
            if str(data.get("token_type", "")).lower() != "bearer":
                raise TypeError
            expires_in = data.get("expires_in")
            grant_exp = data.get("grant_expires_at")
            refresh = data.get("refresh_token")
            return ShopTokens(
                access_token=access, refresh_token=refresh if isinstance(refresh, str) else None,
                expires_at=(None if expires_in is None
                            else self._clock.now() + timedelta(seconds=int(expires_in))),
                scopes=tuple(s for s in str(data.get("scope") or "").split() if s in SHOP_SCOPES),
                customer_id=customer[:200],
                grant_expires_at=None if not grant_exp else datetime.fromisoformat(str(grant_exp)))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ShopError("the shop's token response is malformed", code="shop_bad_response") from None

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError:
            raise ShopError("the shop could not be reached", code="shop_unavailable") from None
