"""The Graph API as Messenger and WhatsApp share it: calls with a bearer token (never in the
URL), the error envelope `{"error": {"code", "error_subcode", ...}}` mapped to what the
channel does about it (`GraphError.kind`), and the webhook side: the verify handshake and the
`X-Hub-Signature-256` HMAC of the raw body, both compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from ledgerlink.services.messaging.platform_ports import GraphError

__all__ = ["DEFAULT_GRAPH_URL", "GraphHttp", "HubSignatureGate", "classify", "hub_signature"]

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
TIMEOUT = httpx.Timeout(10.0)

_RATE = {
    4,
    17,
    32,
    613,
    80001,
    80002,
    80003,
    80004,
    80005,
    80006,
    80007,
    80008,
    80009,
    130429,
    131048,
    131056,
}
_TOKEN = {102, 190, 463, 467}
_UNAVAILABLE = {-1, 1, 2, 1200, 131000, 131016, 133004}


def classify(status: int | None, code: int | None, subcode: int | None) -> str:
    """What a Graph error means for the channel (see `GraphError`)."""
    if code in _RATE or status == 429:
        return "rate_limited"
    if code in _TOKEN:
        return "token"
    if code == 551 or (code == 200 and subcode == 1545041) or (code == 100 and subcode == 2018001):
        return "blocked"
    if (code == 10 and subcode == 2018278) or code == 131047:
        return "window"
    if code in _UNAVAILABLE or (status is not None and status >= 500):
        return "unavailable"
    return "refused"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _regain_seconds(resp: httpx.Response) -> float | None:
    """`Retry-After`, or the usage headers' `estimated_time_to_regain_access` (minutes)."""
    after = resp.headers.get("retry-after", "").strip()
    if after.isdigit():
        return float(after)
    waits: list[float] = []
    for name in ("x-business-use-case-usage", "x-page-usage", "x-app-usage"):
        raw = resp.headers.get(name)
        if not raw or len(raw) > 4096:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        items = (
            [v for lists in usage.values() if isinstance(lists, list) for v in lists]
            if isinstance(usage, dict) and name == "x-business-use-case-usage"
            else [usage]
        )
        for item in items:
            minutes = _int(item.get("estimated_time_to_regain_access")) if isinstance(item, dict) else None
            if minutes:
                waits.append(minutes * 60.0)
    return max(waits) if waits else None


class GraphHttp:
    """Graph calls for one token. `base_url` includes the version (…/v21.0)."""

    def __init__(self, http: httpx.AsyncClient, *, base_url: str, token: str) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._token = token

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            resp = await self._http.request(
                method,
                f"{self._base}/{path.lstrip('/')}",
                json=json_body,
                params=params,
                timeout=TIMEOUT,
                headers={"authorization": f"Bearer {self._token}"},
            )
        except httpx.HTTPError:
            raise GraphError("unavailable") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code == 200 and isinstance(body, dict) and "error" not in body:
            return body
        error = body.get("error") if isinstance(body, dict) else None
        code = _int(error.get("code")) if isinstance(error, dict) else None
        sub = _int(error.get("error_subcode")) if isinstance(error, dict) else None
        kind = classify(resp.status_code, code, sub)
        raise GraphError(
            kind,
            code=code,
            subcode=sub,
            status=resp.status_code,
            retry_after=_regain_seconds(resp) if kind == "rate_limited" else None,
        )


def hub_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value of `body`: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HubSignatureGate:
    """The `WebhookGate` of one app: its secret and the verify token of the subscription."""

    def __init__(self, *, app_secret: str, verify_token: str) -> None:
        self._secret = app_secret.encode()
        self._verify = verify_token.encode()

    def verify_token(self, offered: str) -> bool:
        return bool(self._verify) and hmac.compare_digest(offered.encode(), self._verify)

    def signature_ok(self, body: bytes, header: str | None) -> bool:
        if not header or not header.startswith("sha256=") or len(header) != 71:
            return False
        expected = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(header[7:].lower().encode(), expected.encode())
