"""What the provider connectors share: bounded HTTP over the injected client, JSON with
Decimal numbers, Money from decimal strings, hostile-text and id checks, rate-limit headers,
and the credential blobs' envelope.

Nothing here puts a URL's userinfo, a token, a key or an account number into an exception
message or a log line: errors carry the provider's name, the HTTP status and at most a
sanitised provider code.
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from ledgerlink.domain.errors import InvalidInput
from ledgerlink.domain.money import Money
from ledgerlink.domain.text import InvalidText, display_line
from ledgerlink.services.linking.provider_ports import (
    ProviderBadResponse,
    ProviderError,
    ProviderQuota,
    ProviderRateLimited,
    ProviderRefused,
    ProviderTransactions,
    ProviderUnavailable,
)

log = structlog.get_logger(__name__)
MAX_BODY = 16 * 1024 * 1024  # more than any real answer; a larger one is refused unread
MAX_ID = 128  # the transactions table's source_key


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self, provider: str) -> Any:
        """The body as JSON; numbers with a fraction become Decimal, never float."""
        try:
            return json.loads(self.body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise ProviderBadResponse(f"{provider} answered {self.status} with a body that is not JSON",
                                      code="provider_bad_response") from None


async def send(http: httpx.AsyncClient, method: str, url: str, *, provider: str,
               **kwargs: Any) -> Reply:
    """One request; the body is read up to MAX_BODY. Transport failures become
    ProviderUnavailable naming only the exception's type (its message may hold the URL).

    A read (GET) is sent once more when the server closed a kept-alive connection before
    answering: the pool reused it as the server's keep-alive timer ran out (uvicorn's and
    httpx's are both 5 s), so the request was never read and costs no budget. A request whose
    answer had begun, and any POST (a SimpleFIN claim works once), is never repeated."""
    for attempt in (1, 2):
        try:
            return await _send_once(http, method, url, provider=provider, **kwargs)
        except httpx.RemoteProtocolError as exc:
            if attempt == 2 or method != "GET" or not _closed_before_answer(exc):
                log.warning("provider_unreachable", provider=provider, error=type(exc).__name__)
                raise ProviderUnavailable(f"cannot reach {provider} ({type(exc).__name__})") from None
            log.info("provider_connection_closed_retrying", provider=provider)
        except httpx.HTTPError as exc:
            log.warning("provider_unreachable", provider=provider, error=type(exc).__name__)
            raise ProviderUnavailable(f"cannot reach {provider} ({type(exc).__name__})") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _closed_before_answer(exc: httpx.RemoteProtocolError) -> bool:
    # h11's wording when the peer closed the connection before any byte of the response.
    return "without sending a response" in str(exc) or "Server disconnected" in str(exc)


async def _send_once(http: httpx.AsyncClient, method: str, url: str, *, provider: str,
                     **kwargs: Any) -> Reply:
    started = False
    try:
        async with http.stream(method, url, **kwargs) as resp:
            started = True
            declared = resp.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
                raise ProviderBadResponse(f"{provider}'s answer is too large")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > MAX_BODY:
                    raise ProviderBadResponse(f"{provider}'s answer is too large")
                chunks.append(chunk)
            return Reply(resp.status_code, resp.headers, b"".join(chunks))
    except httpx.RemoteProtocolError as exc:
        if started:  # the answer had begun: never repeated
            raise httpx.ReadError(str(exc)) from exc
        raise


def check_url(url: str, *, allow_insecure_loopback: bool, what: str) -> str:
    """`url` if it is https (or, when allowed, http on a loopback address), else InvalidInput.
    The message names `what`, never the URL (it may hold credentials)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise InvalidInput(f"{what} is not a URL", code="provider_bad_url") from None
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and allow_insecure_loopback and _loopback(host):
        return url
    raise InvalidInput(f"{what} must be an https URL", code="provider_bad_url")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def obj(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one (optional sub-objects)."""
    return value if isinstance(value, dict) else {}


def safe_code(value: object, default: str = "unknown") -> str:
    """A provider's error code, reduced to letters, digits and ``._-`` (at most 48)."""
    text = "".join(ch for ch in str(value) if ch.isascii() and (ch.isalnum() or ch in "._-"))[:48]
    return text or default


def text(value: object, where: str, *, limit: int = 200, default: str = "") -> str:
    """Bank-supplied display text: one line, control and bidi characters removed, bounded."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise ProviderBadResponse(f"{where} is not text", code="provider_bad_response")
    try:
        line = display_line(value, where)
    except InvalidText as exc:
        raise ProviderBadResponse(exc.detail, code="provider_bad_response") from None
    return line[:limit].strip() or default


def ident(value: object, where: str) -> str:
    """An id from the provider: a non-empty printable string of at most MAX_ID characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID or not value.isprintable():
        raise ProviderBadResponse(f"{where} is not a usable id", code="provider_bad_response")
    return value


def content_key(*parts: object) -> str:
    """The last-resort id of an entry the provider gives no id: a digest of what it says."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return "h:" + hashlib.sha256(joined.encode()).hexdigest()[:40]


def money(amount: object, currency: object, where: str) -> Money:
    """Money from a decimal string (or a JSON number read as Decimal), never a float."""
    if isinstance(amount, bool) or not isinstance(amount, str | Decimal | int):
        raise ProviderBadResponse(f"{where} is not a decimal amount", code="provider_bad_response")
    if not isinstance(currency, str) or len(currency) != 3:
        raise ProviderBadResponse(f"{where}: the currency is not an ISO 4217 code",
                                  code="provider_bad_response")
    try:
        return Money.parse(amount, currency)
    except InvalidInput as exc:
        raise ProviderBadResponse(f"{where}: {exc.detail}", code="provider_bad_response") from None


def iso_day(value: object, where: str, provider: str) -> date | None:
    """A bank day from "YYYY-MM-DD" (or the date part of a date-time); None when absent."""
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ProviderBadResponse(f"{provider}: a date in {where} is not YYYY-MM-DD") from None


def iso_instant(value: object, where: str, provider: str) -> datetime:
    """An aware UTC instant from an ISO 8601 date-time (a bare date is its UTC midnight)."""
    raw = str(value)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00")) if "T" in raw else \
            datetime.combine(date.fromisoformat(raw), time())
    except ValueError:
        raise ProviderBadResponse(f"{provider}: {where} is not a date-time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_utc_midnight(now: datetime) -> int:
    """Seconds until the next UTC day: when providers' daily budgets start again."""
    tomorrow = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    return max(1, int((tomorrow - now).total_seconds()))


def header_int(headers: httpx.Headers, *names: str) -> int | None:
    for name in names:
        raw = headers.get(name)
        if raw is not None and raw.strip().lstrip("-").isdigit():
            return int(raw.strip())
    return None


def retry_after(headers: httpx.Headers, now: datetime) -> int | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(1, int((when - now).total_seconds()))


def quota_from(headers: httpx.Headers) -> ProviderQuota | None:
    """GoCardless' per-account limit headers, in their documented HTTP_X_... spelling or the
    conventional X-RateLimit-Account-Success-* one."""
    remaining = header_int(headers, "http_x_ratelimit_account_success_remaining",
                           "x-ratelimit-account-success-remaining")
    limit = header_int(headers, "http_x_ratelimit_account_success_limit", "x-ratelimit-account-success-limit")
    reset = header_int(headers, "http_x_ratelimit_account_success_reset", "x-ratelimit-account-success-reset")
    if remaining is None and limit is None and reset is None:
        return None
    return ProviderQuota(remaining=remaining, limit=limit, reset_after=reset)


async def per_account(fetch: Callable[[str], Awaitable[ProviderTransactions]], account_ids: Sequence[str]
                      ) -> dict[str, ProviderTransactions | ProviderError]:
    """`fetch` for each account in turn; what fails for one account only (its limit, a refusal,
    a malformed answer) is kept in its place, anything else (consent ended, unreachable) raised."""
    out: dict[str, ProviderTransactions | ProviderError] = {}
    for account_id in account_ids:
        try:
            out[account_id] = await fetch(account_id)
        except (ProviderRateLimited, ProviderRefused, ProviderBadResponse) as exc:
            out[account_id] = exc
    return out


def encode_blob(provider: str, data: Mapping[str, Any]) -> bytes:
    return json.dumps({"provider": provider, "v": 1, **data}, separators=(",", ":")).encode()


def decode_blob(provider: str, blob: bytes, what: str = "credential") -> dict[str, Any]:
    """A blob this connector made; anything else is refused (InvalidInput) without echoing it."""
    try:
        data = json.loads(blob)
    except (ValueError, UnicodeDecodeError, TypeError):
        raise InvalidInput(f"the {provider} {what} is unreadable", code="provider_bad_credential") from None
    if not isinstance(data, dict) or data.get("provider") != provider or data.get("v") != 1:
        raise InvalidInput(f"this is not a {provider} {what}", code="provider_bad_credential")
    return data
