"""The shop's cursor-synced orders API (issue 11): `GET /orders?cursor=&limit=` answers the
orders of the token's customer changed since the cursor, oldest change first.

Every change of an order (placed, a parcel step, a refund) gives it a new `version` and the
next value of one shop-wide change counter (`seq`); the feed is ordered by that counter, so
its order is stable and a page ends where the next begins. The cursor is opaque to clients:
the customer and the last counter seen, with an HMAC under the shop's key, so a cursor that
was edited, or made for another customer, is refused (400 `bad_cursor`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_LIMIT", "CursorProblem", "Page", "make_cursor", "page", "read_cursor"]

MAX_LIMIT = 100


class CursorProblem(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def _mac(key: bytes, payload: bytes) -> str:
    return hmac.new(key, payload, hashlib.sha256).hexdigest()[:32]


def make_cursor(key: bytes, *, customer: str, seq: int) -> str:
    payload = json.dumps({"c": customer, "s": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _mac(key, payload)


def read_cursor(key: bytes, cursor: str | None, *, customer: str) -> int:
    """The change counter a cursor stands at (0 without one)."""
    if not cursor:
        return 0
    body, _, mac = cursor.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise CursorProblem("bad_cursor", "the cursor is not one this shop gave") from None
    if not mac or not hmac.compare_digest(mac, _mac(key, payload)):
        raise CursorProblem("bad_cursor", "the cursor is not one this shop gave (its signature is wrong)")
    data = json.loads(payload)
    if data.get("c") != customer:
        raise CursorProblem("bad_cursor", "the cursor was given for another customer")
    return int(data["s"])


@dataclass(frozen=True, slots=True)
class Page:
    orders: list[dict[str, Any]]
    next_cursor: str
    has_more: bool

    def to_json(self) -> dict[str, Any]:
        return {"orders": self.orders, "next_cursor": self.next_cursor, "has_more": self.has_more}


def page(key: bytes, changes: list[tuple[int, dict[str, Any]]], *, customer: str, cursor: str | None,
         limit: int) -> Page:
    """`changes`: (seq, the order's entry) of each of the customer's orders, its latest change."""
    if not 1 <= limit <= MAX_LIMIT:
        raise CursorProblem("bad_limit", f"limit is 1 to {MAX_LIMIT}")
    since = read_cursor(key, cursor, customer=customer)
    newer = sorted((c for c in changes if c[0] > since), key=lambda c: c[0])
    taken = newer[:limit]
    last = taken[-1][0] if taken else since
    return Page([entry for _, entry in taken], make_cursor(key, customer=customer, seq=last),
                len(newer) > limit)
