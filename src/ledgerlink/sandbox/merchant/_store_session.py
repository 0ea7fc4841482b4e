"""The storefront's sessions (`_store`): the shop's own sign-in, an anonymous session first so
every form (sign-in too) carries a CSRF token; the cookie HttpOnly, SameSite=Lax, on the shop's
mount path, Secure over https; a new id at sign-in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from fastapi.responses import Response

from ledgerlink.sandbox.merchant.shop import SandboxShop

__all__ = ["COOKIE", "Session", "Sessions", "base_path", "set_cookie"]

COOKIE = "shop_session"
SESSION_TTL = timedelta(hours=1)
MAX_SESSIONS = 10_000


@dataclass
class Session:
    csrf: str
    expires_at: datetime
    customer: str | None = None  # signed in as this shop customer


class Sessions:
    def __init__(self, shop: SandboxShop) -> None:
        self._shop = shop
        self._by_id: dict[str, Session] = {}

    def _now(self) -> datetime:
        return self._shop.config.clock.now()

    def new(self, customer: str | None = None) -> tuple[str, Session]:
        now = self._now()
        if len(self._by_id) >= MAX_SESSIONS:  # expired ones first; then the oldest
            self._by_id = {k: v for k, v in self._by_id.items() if v.expires_at > now}
            while len(self._by_id) >= MAX_SESSIONS:
                self._by_id.pop(next(iter(self._by_id)))
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = Session(secrets.token_urlsafe(24), now + SESSION_TTL, customer)
        return sid, self._by_id[sid]

    def get(self, request: Request) -> Session | None:
        session = self._by_id.get(request.cookies.get(COOKIE, ""))
        if session is None or self._now() >= session.expires_at:
            return None
        return session

    def drop(self, request: Request) -> None:
        self._by_id.pop(request.cookies.get(COOKIE, ""), None)


def base_path(request: Request) -> str:
    return str(request.scope.get("root_path") or "").rstrip("/")


def set_cookie(request: Request, resp: Response, sid: str) -> None:
    resp.set_cookie(
        COOKIE,
        sid,
        httponly=True,
        samesite="lax",
        path=base_path(request) or "/",
        max_age=int(SESSION_TTL.total_seconds()),
        secure=request.url.scheme == "https",
    )
