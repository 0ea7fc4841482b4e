"""Request-scoped access to the container and the signed-in person."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request

from ledgerlink.domain.errors import DomainError
from ledgerlink.domain.privacy import Grant
from ledgerlink.services.kernel.deps import Deps
from ledgerlink.services.messaging import messenger

SESSION_KEY = "person_id"


def get_deps(conn: HTTPConnection) -> Deps:
    deps = conn.app.state.deps
    assert isinstance(deps, Deps)
    return deps


def current_person_id(conn: HTTPConnection) -> str | None:
    """The signed-in person's id from the session cookie, or None."""
    value = conn.session.get(SESSION_KEY)
    return value if isinstance(value, str) else None


async def signed_in(request: Request) -> tuple[Grant, Any] | None:
    """The signed-in person and their grant, or None (a stale session is cleared)."""
    person_id = current_person_id(request)
    if person_id is None:
        return None
    try:
        person = await messenger.get_person(get_deps(request), person_id)
    except DomainError:
        request.session.pop(SESSION_KEY, None)
        return None
    return Grant.for_person(person_id), person
