"""Request-scoped access to the container and the signed-in person.

The signed cookie (Starlette's `SessionMiddleware`) carries the session token and the CSRF
token; whether the request is signed in is the server's `sessions` row (ADR 0019), looked up
once per request.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request

from ledgerlink.domain.privacy import Grant
from ledgerlink.services.auth import sessions
from ledgerlink.services.auth.sessions import Session
from ledgerlink.services.kernel.deps import Deps

SESSION_KEY = "sid"  # the session token, inside the signed cookie
_RESOLVED = "ll_session"  # request.state: the Session (or None) once looked up


def get_deps(conn: HTTPConnection) -> Deps:
    deps = conn.app.state.deps
    assert isinstance(deps, Deps)
    return deps


def session_token(conn: HTTPConnection) -> str | None:
    value = conn.session.get(SESSION_KEY)
    return value if isinstance(value, str) else None


def client_address(conn: HTTPConnection) -> str:
    """The client's address, for throttles (never logged). Behind a proxy on loopback, uvicorn
    has already put the forwarded address here (`--forwarded-allow-ips`)."""
    return conn.client.host if conn.client is not None else "unknown"


async def current_session(conn: HTTPConnection) -> Session | None:
    """The live server-side session of this request, or None (an ended or expired session's
    token is dropped from the cookie)."""
    if hasattr(conn.state, _RESOLVED):
        found: Session | None = getattr(conn.state, _RESOLVED)
        return found
    token = session_token(conn)
    found = None if token is None else await sessions.resolve(get_deps(conn), token)
    if found is None and token is not None:
        conn.session.pop(SESSION_KEY, None)
    setattr(conn.state, _RESOLVED, found)
    return found


def forget_session(conn: HTTPConnection) -> None:
    """After sign-in, sign-out or erasure: the next lookup reads the cookie afresh."""
    if hasattr(conn.state, _RESOLVED):
        delattr(conn.state, _RESOLVED)


async def signed_in(request: Request) -> tuple[Grant, Any] | None:
    """The signed-in person and their grant, or None."""
    session = await current_session(request)
    if session is None:
        return None
    return session.grant, session.person
